#!/usr/bin/env bash
# Stop what .ci/services.sh started: the Kubernetes cluster, buildkitd, the registry, PostgreSQL 15/main and, with
# --docker, the Docker engine (left running by default: other jobs share it).
set -euo pipefail

FASTAPI_CI_STATE_DIR="${FASTAPI_CI_STATE_DIR:-/var/lib/fastapi-ci}"

stop_pidfile() {
  local name="$1" pidfile="$2" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop-services: $name (pid $pid) did not stop within 30s" >&2
      return 1
    fi
    echo "stop-services: stopped $name (pid $pid)" >&2
  fi
  rm -f "$pidfile"
}

bash "$(dirname "${BASH_SOURCE[0]}")/kubernetes.sh" down
stop_pidfile buildkitd "$FASTAPI_CI_STATE_DIR/buildkitd.pid"
stop_pidfile registry "$FASTAPI_CI_STATE_DIR/registry.pid"
if pg_lsclusters -h 2>/dev/null | awk '$1 == 15 && $2 == "main" && $4 == "online" { found = 1 } END { exit !found }'; then
  pg_ctlcluster 15 main stop
  echo "stop-services: stopped PostgreSQL 15/main" >&2
fi
if [[ "${1:-}" == --docker ]]; then
  stop_pidfile dockerd /var/run/docker.pid
fi
