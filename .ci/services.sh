#!/usr/bin/env bash
# Bring up, and verify, the real components the integration and e2e tests use:
#   Docker engine, the stand-in base image, a local registry with auth, PostgreSQL 15,
#   oasdiff, Kubernetes, and BuildKit (buildkitd, a buildx builder, QEMU for arm64, and the
#   stand-in base image as an amd64+arm64 manifest list in the registry).
#
#   .ci/services.sh            run it: start what is down, verify everything, print a table
#   source .ci/services.sh     same, and export the FASTAPI_CI_* connection facts below
#   .ci/services.sh --probe COMPONENT...   start nothing: say which of these answer (below)
#
# Idempotent: what already runs is verified and left alone. Debian bookworm, root;
# no systemd is assumed, so daemons are started in the background, logging to
# $FASTAPI_CI_LOG_DIR. Exits (or returns) non-zero if any component can't be brought up.
#
# Opt-ins for .ci/pipeline, which runs what it can with what is there (.ci/run sets neither:
# there a missing component must fail the run, not quietly skip tests):
#   FASTAPI_CI_SERVICES_BEST_EFFORT=1       a component that can't be brought up is reported and
#                                           the others still are; exits 0. Not root: starts nothing.
#   FASTAPI_CI_SERVICES_WITHOUT=docker,...  leave these alone (docker, swarm, base-image, registry,
#                                           postgres, oasdiff, kubernetes, buildkit; swarm and
#                                           base-image go with docker, buildkit with docker or registry)

# Connection facts for the tests. Test-only credentials; fine to commit.
export FASTAPI_CI_REGISTRY="${FASTAPI_CI_REGISTRY:-127.0.0.1:5000}"
export FASTAPI_CI_REGISTRY_USER="${FASTAPI_CI_REGISTRY_USER:-ci-user}"
export FASTAPI_CI_REGISTRY_PASSWORD="${FASTAPI_CI_REGISTRY_PASSWORD:-ci-password-123}"
export FASTAPI_CI_DATABASE_URL="${FASTAPI_CI_DATABASE_URL:-postgresql://fastapi_ci:fastapi_ci@127.0.0.1:5432/fastapi_ci}"
export FASTAPI_CI_BASE_IMAGE="${FASTAPI_CI_BASE_IMAGE:-fastapi-ci/python-standin:3.11}"
# Debian's client: the one on PATH (/usr/local/bin) is newer but has no buildx,
# so BuildKit builds need this one with DOCKER_BUILDKIT=1.
export FASTAPI_CI_DOCKER="${FASTAPI_CI_DOCKER:-/usr/bin/docker}"
# The real oasdiff, built by .ci/oasdiff.sh: the oracle of schema-guard's differential test.
export FASTAPI_CI_OASDIFF="${FASTAPI_CI_OASDIFF:-/var/cache/fastapi-ci/oasdiff/v1.39.0/oasdiff}"
# A one-node Kubernetes cluster built from source (.ci/kubernetes.sh); its admin credentials.
export FASTAPI_CI_KUBECONFIG="${FASTAPI_CI_KUBECONFIG:-/var/lib/fastapi-ci/kubeconfig}"
# BuildKit built from source (.ci/buildkit.sh): buildkitd's address, and the buildx builder
# (remote driver) joined to it. The builder lives in its own buildx config directory, so a
# client with any DOCKER_CONFIG selects it with BUILDX_CONFIG=$FASTAPI_CI_BUILDX_CONFIG
# BUILDX_BUILDER=$FASTAPI_CI_BUILDX_BUILDER (or `--builder`).
export FASTAPI_CI_BUILDKIT="${FASTAPI_CI_BUILDKIT:-unix:///run/fastapi-ci/buildkitd.sock}"
export FASTAPI_CI_BUILDX_CONFIG="${FASTAPI_CI_BUILDX_CONFIG:-/var/lib/fastapi-ci/buildx}"
export FASTAPI_CI_BUILDX_BUILDER="${FASTAPI_CI_BUILDX_BUILDER:-fastapi-ci-buildkit}"
export FASTAPI_CI_BUILDKIT_PLATFORMS="${FASTAPI_CI_BUILDKIT_PLATFORMS:-linux/amd64,linux/arm64}"
# The stand-in base image for both platforms: one manifest list in the registry.
export FASTAPI_CI_BASE_IMAGE_MULTIARCH="${FASTAPI_CI_BASE_IMAGE_MULTIARCH:-$FASTAPI_CI_REGISTRY/fastapi-ci/python-standin:3.11}"
# BuildKit's SBOM generator for build-push's `sbom` (.ci/sbom-scanner.sh: syft built from its
# module behind BuildKit's SBOM protocol), pushed to the registry with the buildkit component.
FASTAPI_CI_SBOM_SCANNER="${FASTAPI_CI_SBOM_SCANNER:-$(bash "$(dirname "${BASH_SOURCE[0]}")/sbom-scanner.sh" --name)}"
export FASTAPI_CI_SBOM_SCANNER

# Sourced: keep the caller's shell options, and do the work in a child bash
# (set -e does not apply inside a function called from `cmd || return`).
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  "${BASH:-bash}" "${BASH_SOURCE[0]}" "$@" || return
  return 0
fi

set -euo pipefail

CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FASTAPI_CI_LOG_DIR="${FASTAPI_CI_LOG_DIR:-/var/log/fastapi-ci}"
FASTAPI_CI_STATE_DIR="${FASTAPI_CI_STATE_DIR:-/var/lib/fastapi-ci}"
FASTAPI_CI_CONF_DIR="${FASTAPI_CI_CONF_DIR:-/etc/fastapi-ci}"
FASTAPI_CI_WAIT_SECONDS="${FASTAPI_CI_WAIT_SECONDS:-60}"
export FASTAPI_CI_LOG_DIR
BEST_EFFORT="${FASTAPI_CI_SERVICES_BEST_EFFORT:-}"
WITHOUT=",${FASTAPI_CI_SERVICES_WITHOUT:-},"
WITHOUT="${WITHOUT// /}"
UNAVAILABLE=","  # the components best effort could not bring up, comma separated

PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
PG_ROLE=fastapi_ci
PG_PASSWORD=fastapi_ci
PG_DATABASE=fastapi_ci

DOCKER="$FASTAPI_CI_DOCKER"
DOCKERD_LOG="$FASTAPI_CI_LOG_DIR/dockerd.log"
REGISTRY_LOG="$FASTAPI_CI_LOG_DIR/registry.log"
REGISTRY_CONF_DIR="$FASTAPI_CI_CONF_DIR/registry"
REGISTRY_STORAGE="$FASTAPI_CI_STATE_DIR/registry"
REGISTRY_PIDFILE="$FASTAPI_CI_STATE_DIR/registry.pid"
PG_LOG="/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"

say() { printf 'services: %s\n' "$*" >&2; }
die() {
  printf 'services: ERROR: %s\n' "$*" >&2
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second until it succeeds.
wait_for() {
  local seconds="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
  say "$what is up"
}

# start_daemon LOG PIDFILE COMMAND...: start a daemon detached from this shell (own
# session, no terminal), logging to LOG. fd 9 (our lock) is closed so the daemon
# does not hold it forever.
start_daemon() {
  local log="$1" pidfile="$2"
  shift 2
  setsid nohup "$@" >>"$log" 2>&1 </dev/null 9>&- &
  echo "$!" >"$pidfile"
}

# needs COMPONENT: the components COMPONENT cannot do without.
needs() {
  case "$1" in
    swarm | base-image) echo docker ;;
    buildkit) echo docker registry ;; # the buildx plugin is docker's; the base goes to the registry
  esac
}

# left_alone COMPONENT: listed in FASTAPI_CI_SERVICES_WITHOUT, or one it needs is.
left_alone() {
  local needed
  [[ "$WITHOUT" == *",$1,"* ]] && return 0
  for needed in $(needs "$1"); do
    [[ "$WITHOUT" == *",$needed,"* ]] && return 0
  done
  return 1
}
unavailable() { [[ "$UNAVAILABLE" == *",$1,"* ]]; }

# bring_up COMPONENT FUNCTION: run FUNCTION, which dies if COMPONENT can't be brought up.
# Under best effort that death is reported and the next component is tried.
bring_up() {
  local component="$1" status needed
  shift
  if left_alone "$component"; then
    say "$component: left alone (FASTAPI_CI_SERVICES_WITHOUT)"
    return 0
  fi
  if [[ -z "$BEST_EFFORT" ]]; then
    "$@"
    return 0
  fi
  for needed in $(needs "$component"); do
    if unavailable "$needed"; then
      UNAVAILABLE+="$component,"
      say "$component: unavailable, it needs $needed"
      return 0
    fi
  done
  # A subshell, so that die ends only this component; set -e is re-armed inside it (bash
  # would switch it off in a function called from a condition).
  set +e
  (set -e; "$@")
  status=$?
  set -e
  if ((status != 0)); then
    UNAVAILABLE+="$component,"
    say "$component: unavailable; carrying on without it (FASTAPI_CI_SERVICES_BEST_EFFORT)"
  fi
}

ensure_packages() {
  local wanted=(curl ca-certificates util-linux python3-venv shellcheck)
  left_alone docker || wanted+=(docker.io)
  left_alone base-image || wanted+=(debootstrap)
  left_alone registry || wanted+=(docker-registry apache2-utils)
  left_alone postgres || wanted+=(postgresql)
  left_alone kubernetes || wanted+=(containerd runc containernetworking-plugins gcc openssl)
  left_alone buildkit || wanted+=(runc qemu-user-static binfmt-support debootstrap)
  local missing=() pkg
  for pkg in "${wanted[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != installed ]]; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$FASTAPI_CI_LOG_DIR/apt.log" 2>&1 \
    || die "apt-get update failed; see $FASTAPI_CI_LOG_DIR/apt.log"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$FASTAPI_CI_LOG_DIR/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed; see $FASTAPI_CI_LOG_DIR/apt.log"
}

ensure_uv() {
  # uv installs the locked package set. It is installed from the hash-pinned requirements
  # file the actions use, so every machine runs the same uv; another version on PATH is
  # replaced. Debian's own python3 refuses pip installs (PEP 668): where it is the
  # interpreter on PATH, --break-system-packages is what lets uv in.
  local requirements="$CI_DIR/../actions/_shared/uv-requirements.txt" wanted
  wanted="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$requirements")"
  [[ "$(uv --version 2>/dev/null)" == "uv $wanted "* ]] && return 0
  say "installing uv $wanted"
  local pip=(python3 -m pip install --quiet --disable-pip-version-check --require-hashes
    --only-binary=:all: -r "$requirements")
  "${pip[@]}" >>"$FASTAPI_CI_LOG_DIR/pip.log" 2>&1 \
    || "${pip[@]}" --break-system-packages >>"$FASTAPI_CI_LOG_DIR/pip.log" 2>&1 \
    || die "pip install uv $wanted failed; see $FASTAPI_CI_LOG_DIR/pip.log"
  [[ "$(uv --version 2>/dev/null)" == "uv $wanted "* ]] \
    || die "uv $wanted was installed but \`uv --version\` on PATH says: $(uv --version 2>&1)"
}

ensure_docker() {
  if "$DOCKER" info >/dev/null 2>&1; then
    return 0
  fi
  local pid=""
  [[ -f /var/run/docker.pid ]] && pid="$(cat /var/run/docker.pid)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    say "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    say "starting dockerd (log: $DOCKERD_LOG)"
    # No flags needed here: overlay2 on ext4, iptables and the default bridge all work,
    # and dockerd starts its own containerd.
    start_daemon "$DOCKERD_LOG" "$FASTAPI_CI_STATE_DIR/dockerd.pid" dockerd
  fi
  wait_for "$FASTAPI_CI_WAIT_SECONDS" "Docker engine" "$DOCKER" info \
    || die "Docker engine did not answer within ${FASTAPI_CI_WAIT_SECONDS}s; see $DOCKERD_LOG"
}

BASE_IMAGE_PYTHON=""
swarm_state() { "$DOCKER" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
swarm_settled() { [[ "$(swarm_state)" != pending ]]; }

ensure_swarm() {
  # A one-node Swarm on this engine: the real rolling-update orchestrator of the rollout tests.
  # A restarted engine rejoins its existing Swarm; until it has, the state reads "pending".
  wait_for "$FASTAPI_CI_WAIT_SECONDS" "Swarm" swarm_settled \
    || die "Swarm stayed 'pending' for ${FASTAPI_CI_WAIT_SECONDS}s; see $DOCKERD_LOG"
  case "$(swarm_state)" in
    active) return 0 ;;
    inactive) ;;
    *) die "Swarm is '$(swarm_state)' on this engine; see $DOCKERD_LOG" ;;
  esac
  say "initialising a one-node Swarm"
  "$DOCKER" swarm init --advertise-addr 127.0.0.1 >>"$FASTAPI_CI_LOG_DIR/swarm.log" 2>&1 \
    || die "docker swarm init failed; see $FASTAPI_CI_LOG_DIR/swarm.log"
}

ensure_base_image() {
  # A child bash, so set -e holds inside it (it would not in a function called from ||).
  bash "$CI_DIR/standin-base.sh" "$FASTAPI_CI_BASE_IMAGE" 9>&- \
    || die "could not build the stand-in base image $FASTAPI_CI_BASE_IMAGE; see $FASTAPI_CI_LOG_DIR/standin-debootstrap.log"
  BASE_IMAGE_PYTHON="$("$DOCKER" run --rm --network none "$FASTAPI_CI_BASE_IMAGE" python --version 2>&1)" \
    || die "the stand-in base image $FASTAPI_CI_BASE_IMAGE does not run python: $BASE_IMAGE_PYTHON"
}

registry_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$FASTAPI_CI_REGISTRY/v2/" || true
}
registry_wants_auth() { [[ "$(registry_status)" == 401 ]]; }

write_registry_config() {
  local host="${FASTAPI_CI_REGISTRY%:*}" port="${FASTAPI_CI_REGISTRY##*:}"
  mkdir -p "$REGISTRY_CONF_DIR" "$REGISTRY_STORAGE"
  # bcrypt salts differ per run: only rewrite when the password no longer matches.
  if ! htpasswd -vb "$REGISTRY_CONF_DIR/htpasswd" "$FASTAPI_CI_REGISTRY_USER" "$FASTAPI_CI_REGISTRY_PASSWORD" >/dev/null 2>&1; then
    htpasswd -Bbn "$FASTAPI_CI_REGISTRY_USER" "$FASTAPI_CI_REGISTRY_PASSWORD" >"$REGISTRY_CONF_DIR/htpasswd"
  fi
  cat >"$REGISTRY_CONF_DIR/config.yml" <<EOF
# Generated by .ci/services.sh; edits are overwritten.
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_STORAGE
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $host:$port
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: fastapi-ci
    path: $REGISTRY_CONF_DIR/htpasswd
EOF
}

ensure_registry() {
  local status
  status="$(registry_status)"
  if [[ "$status" != 401 ]]; then
    [[ "$status" == 000 ]] \
      || die "something on $FASTAPI_CI_REGISTRY answers /v2/ with HTTP $status, not a registry with auth (401)"
    write_registry_config
    say "starting docker-registry on $FASTAPI_CI_REGISTRY (log: $REGISTRY_LOG)"
    start_daemon "$REGISTRY_LOG" "$REGISTRY_PIDFILE" docker-registry serve "$REGISTRY_CONF_DIR/config.yml"
    wait_for "$FASTAPI_CI_WAIT_SECONDS" "registry" registry_wants_auth \
      || die "registry did not answer on http://$FASTAPI_CI_REGISTRY/v2/ with 401 within ${FASTAPI_CI_WAIT_SECONDS}s; see $REGISTRY_LOG"
  fi
  # The credentials work (checked over HTTP, so docker is not left logged in).
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    -u "$FASTAPI_CI_REGISTRY_USER:$FASTAPI_CI_REGISTRY_PASSWORD" "http://$FASTAPI_CI_REGISTRY/v2/")" == 200 ]] \
    || die "registry on $FASTAPI_CI_REGISTRY rejects $FASTAPI_CI_REGISTRY_USER's password; see $REGISTRY_CONF_DIR/htpasswd and $REGISTRY_LOG"
}

pg_cluster_field() {
  # pg_lsclusters -h: version cluster port status owner datadir logfile
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" -v f="$1" '$1 == v && $2 == c { print $f }'
}

as_postgres() { runuser -u postgres -- "$@"; }

ensure_postgres() {
  local port status
  if [[ -z "$(pg_cluster_field 2)" ]]; then
    say "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
    pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >"$FASTAPI_CI_LOG_DIR/pg_createcluster.log" 2>&1 \
      || die "pg_createcluster $PG_VERSION $PG_CLUSTER failed; see $FASTAPI_CI_LOG_DIR/pg_createcluster.log"
  fi
  port="$(pg_cluster_field 3)"
  [[ "$port" == "$PG_PORT" ]] \
    || die "PostgreSQL cluster $PG_VERSION/$PG_CLUSTER is configured for port $port, not $PG_PORT (/etc/postgresql/$PG_VERSION/$PG_CLUSTER/postgresql.conf)"
  status="$(pg_cluster_field 4)"
  if [[ "$status" != online ]]; then
    # Without systemd, the socket directory (a tmpfs under systemd) may be missing.
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    say "starting PostgreSQL $PG_VERSION/$PG_CLUSTER (log: $PG_LOG)"
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >/dev/null 2>&1 9>&- \
      || die "pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed; see $PG_LOG"
  fi
  wait_for "$FASTAPI_CI_WAIT_SECONDS" "PostgreSQL" pg_isready -q -h 127.0.0.1 -p "$PG_PORT" \
    || die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within ${FASTAPI_CI_WAIT_SECONDS}s; see $PG_LOG"
  # Role and database, idempotently (\gexec runs each CREATE only when it is missing).
  local sql
  sql="SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
ALTER ROLE :\"role\" WITH LOGIN SUPERUSER PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec"
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres \
    -v role="$PG_ROLE" -v password="$PG_PASSWORD" -v db="$PG_DATABASE" <<<"$sql" >/dev/null \
    || die "could not create role/database $PG_ROLE/$PG_DATABASE; see $PG_LOG"
  psql -X -q "$FASTAPI_CI_DATABASE_URL" -tAc 'select 1' >/dev/null 2>&1 \
    || die "cannot connect with password auth to $(redact_url "$FASTAPI_CI_DATABASE_URL"); see $PG_LOG"
}

ensure_kubernetes() {
  # A child bash, so set -e holds inside it; the first run builds for many minutes.
  bash "$CI_DIR/kubernetes.sh" up 9>&- || die "could not start Kubernetes; see $FASTAPI_CI_LOG_DIR/kube*.log"
}

ensure_buildkit() {
  # Child bashes, so set -e holds inside them; the first run builds for many minutes, and
  # debootstraps the arm64 base under QEMU.
  bash "$CI_DIR/buildkit.sh" up 9>&- || die "could not start BuildKit; see $FASTAPI_CI_LOG_DIR/buildkit*.log"
  bash "$CI_DIR/standin-base.sh" --multi-platform "$FASTAPI_CI_BASE_IMAGE_MULTIARCH" 9>&- \
    || die "could not push the multi-platform base image $FASTAPI_CI_BASE_IMAGE_MULTIARCH; see $FASTAPI_CI_LOG_DIR/standin-debootstrap-arm64.log"
  # syft from its module: about 6.5 min of compiling the first time, then cached.
  bash "$CI_DIR/sbom-scanner.sh" 9>&- >/dev/null 2>"$FASTAPI_CI_LOG_DIR/sbom-scanner.log" \
    || die "could not push the SBOM generator image $FASTAPI_CI_SBOM_SCANNER; see $FASTAPI_CI_LOG_DIR/sbom-scanner.log"
}

redact_url() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

# --- Probes: whether a component answers as the tests and the main job use it, starting nothing.
# absent_COMPONENT prints why COMPONENT is not usable, and nothing when it is.
absent_docker() {
  timeout 30 "$DOCKER" info >/dev/null 2>&1 \
    || echo "none answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
}
absent_swarm() {
  local state
  state="$(timeout 30 "$DOCKER" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)"
  [[ "$state" == active ]] || echo "the engine's Swarm is '${state:-unknown}', not active"
}
absent_base-image() {
  timeout 30 "$DOCKER" image inspect "$FASTAPI_CI_BASE_IMAGE" >/dev/null 2>&1 \
    || echo "not in the engine; .ci/standin-base.sh builds it"
}
absent_registry() {
  local status
  status="$(registry_status)"
  case "$status" in
    200 | 401) ;;
    000) echo "none answers at http://$FASTAPI_CI_REGISTRY/v2/" ;;
    *) echo "http://$FASTAPI_CI_REGISTRY/v2/ answers HTTP $status, not as a registry" ;;
  esac
}
absent_postgres() {
  if ! command -v psql >/dev/null; then
    echo "no psql client to reach it"
  elif ! PGCONNECT_TIMEOUT=5 psql -X "$FASTAPI_CI_DATABASE_URL" -tAc 'SELECT 1' >/dev/null 2>&1; then
    echo "none answers at $(redact_url "$FASTAPI_CI_DATABASE_URL")"
  fi
}
# What the probes call each component when another one needs it ("no Docker engine").
declare -A COMPONENT_NAME=([docker]="Docker engine" [swarm]="Swarm" [registry]=registry
  [postgres]=PostgreSQL [base-image]="stand-in base image")

declare -A ABSENT=() ABSENT_BECAUSE=()  # component -> why not usable ('' usable); -> the one it needs
# probe COMPONENT: fill ABSENT[COMPONENT], and ABSENT_BECAUSE[COMPONENT] with the first
# component it needs that is absent (probed first). One listed in FASTAPI_CI_SERVICES_WITHOUT
# is absent for that reason; one whose needed component is absent is absent for that one.
probe() {
  local component="$1" needed
  [[ -z "${ABSENT[$component]+set}" ]] || return 0
  ABSENT_BECAUSE[$component]=""
  for needed in $(needs "$component"); do
    probe "$needed"
    if [[ -n "${ABSENT[$needed]}" ]]; then
      ABSENT_BECAUSE[$component]="$needed"
      break
    fi
  done
  if [[ "$WITHOUT" == *",$component,"* ]]; then
    ABSENT[$component]="left alone (FASTAPI_CI_SERVICES_WITHOUT)"
  elif [[ -n "${ABSENT_BECAUSE[$component]}" ]]; then
    ABSENT[$component]="no ${COMPONENT_NAME[${ABSENT_BECAUSE[$component]}]}"
  else
    ABSENT[$component]="$("absent_$component")"
  fi
}

# probe_components COMPONENT...: one line per component, "COMPONENT NEEDED WHY": WHY is empty
# when it is usable; NEEDED is the absent component it needs, or - when there is none.
probe_components() {
  local component
  for component in "$@"; do
    if [[ -z "${COMPONENT_NAME[$component]+set}" ]]; then
      printf 'services: --probe: no probe for %s; there are: %s\n' "$component" "${!COMPONENT_NAME[*]}" >&2
      return 2
    fi
  done
  for component in "$@"; do
    probe "$component"
    printf '%s %s %s\n' "$component" "${ABSENT_BECAUSE[$component]:--}" "${ABSENT[$component]}"
  done
}

# down COMPONENT: what the table says instead of a version when best effort went without it.
down() {
  if left_alone "$1"; then
    echo "left alone"
  elif unavailable "$1"; then
    echo unavailable
  else
    return 1
  fi
}

print_table() {
  local docker_version pg_version registry_version swarm base_python
  docker_version="$(down docker || echo "$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null || echo '?') (client $DOCKER)")"
  swarm="$(down swarm || swarm_state)"
  # Best effort brings the base image up in a subshell, whose BASE_IMAGE_PYTHON is lost.
  base_python="$(down base-image || echo "${BASE_IMAGE_PYTHON:-$("$DOCKER" run --rm --network none "$FASTAPI_CI_BASE_IMAGE" python --version 2>&1)}")"
  registry_version="$(down registry || echo "distribution $(docker-registry --version 2>/dev/null | awk '{ print $NF }')")"
  pg_version="$(down postgres || psql -X "$FASTAPI_CI_DATABASE_URL" -tAc 'show server_version' 2>/dev/null | awk '{ print $1 }')"
  {
    printf '%-12s %-56s %s\n' component address version
    printf '%-12s %-56s %s\n' docker unix:///var/run/docker.sock "$docker_version"
    printf '%-12s %-56s %s\n' swarm "one node, advertise 127.0.0.1" "$swarm"
    printf '%-12s %-56s %s\n' base-image "$FASTAPI_CI_BASE_IMAGE" "$base_python"
    printf '%-12s %-56s %s\n' registry "http://$FASTAPI_CI_REGISTRY (user $FASTAPI_CI_REGISTRY_USER)" "$registry_version"
    printf '%-12s %-56s %s\n' oasdiff "$FASTAPI_CI_OASDIFF" "$(down oasdiff || "$FASTAPI_CI_OASDIFF" --version 2>/dev/null | awk '{ print $NF }')"
    printf '%-12s %-56s %s\n' postgresql "$(redact_url "$FASTAPI_CI_DATABASE_URL")" "$pg_version"
    printf '%-12s %-56s %s\n' kubernetes "https://127.0.0.1:6443 $FASTAPI_CI_KUBECONFIG" "$(down kubernetes || bash "$CI_DIR/kubernetes.sh" describe)"
    printf '%-12s %-56s %s\n' buildkit "$FASTAPI_CI_BUILDKIT" "$(down buildkit || bash "$CI_DIR/buildkit.sh" describe)"
    printf '%-12s %-56s %s\n' base-multi "$FASTAPI_CI_BASE_IMAGE_MULTIARCH" "$(down buildkit || bash "$CI_DIR/standin-base.sh" --platforms-of "$FASTAPI_CI_BASE_IMAGE_MULTIARCH")"
  } >&2
}

main() {
  if [[ -n "$BEST_EFFORT" ]] && ((EUID != 0)); then
    say "not root: installing and starting nothing; what already runs is what there is"
    return 0
  fi
  mkdir -p "$FASTAPI_CI_LOG_DIR" "$FASTAPI_CI_STATE_DIR"
  ((EUID == 0)) || die "run as root (installs packages and starts daemons)"
  # Two CI runs starting at once must not both start dockerd or debootstrap. The wait covers
  # the longest cold step (the Kubernetes build from source, ~25 min on 2 cores) with room.
  exec 9>"/var/lock/fastapi-ci-services.lock"
  flock -w 3600 9 || die "another .ci/services.sh held /var/lock/fastapi-ci-services.lock for 60 minutes"
  # Under best effort a failed install is not the end: each component then fails, or not, alone.
  bring_up packages ensure_packages
  ensure_uv
  bring_up docker ensure_docker
  bring_up swarm ensure_swarm
  bring_up registry ensure_registry
  bring_up postgres ensure_postgres
  bring_up base-image ensure_base_image
  bring_up oasdiff bash "$CI_DIR/oasdiff.sh" >/dev/null
  bring_up buildkit ensure_buildkit
  bring_up kubernetes ensure_kubernetes
  print_table
}

if [[ "${1:-}" == --probe ]]; then
  shift
  probe_components "$@"
  exit
fi
main "$@"
