#!/usr/bin/env bash
# A standalone BuildKit for multi-platform builds (build-push's `platforms`): buildkitd and
# buildctl built from the github.com/moby/buildkit Go module, the docker-buildx CLI plugin from
# github.com/docker/buildx, QEMU user-mode emulation (Debian's qemu-user-static) for arm64, and a
# buildx builder with the `remote` driver joined to that buildkitd (no builder image to pull).
#
#   .ci/buildkit.sh build      build the binaries unless cached; install the buildx plugin
#   .ci/buildkit.sh qemu       mount binfmt_misc and enable QEMU's entries (F flag)
#   .ci/buildkit.sh up         build, qemu, start buildkitd unless it answers, (re)create the builder
#   .ci/buildkit.sh describe   the version column of services.sh's table
#
# Idempotent. Root, no systemd: buildkitd runs in the background, logging to $FASTAPI_CI_LOG_DIR;
# .ci/stop-services.sh stops it (its pid file: $FASTAPI_CI_STATE_DIR/buildkitd.pid; the cache is kept).
# Cached under /var/cache/fastapi-ci/<name>/<version> (survives between runs), with the shared
# Go module and build caches, so a version bump downloads and compiles only what changed.
# Needs Go (the machine's, GOTOOLCHAIN=local) and the Go module proxy.
set -euo pipefail

BUILDKIT_VERSION="${FASTAPI_CI_BUILDKIT_VERSION:-v0.34.2}"
BUILDX_VERSION="${FASTAPI_CI_BUILDX_VERSION:-v0.38.2}" # the newest; it requires buildkit v0.34.2
CACHE_ROOT="${FASTAPI_CI_CACHE_DIR:-/var/cache/fastapi-ci}"
FASTAPI_CI_LOG_DIR="${FASTAPI_CI_LOG_DIR:-/var/log/fastapi-ci}"
FASTAPI_CI_STATE_DIR="${FASTAPI_CI_STATE_DIR:-/var/lib/fastapi-ci}"
FASTAPI_CI_CONF_DIR="${FASTAPI_CI_CONF_DIR:-/etc/fastapi-ci}"
FASTAPI_CI_REGISTRY="${FASTAPI_CI_REGISTRY:-127.0.0.1:5000}"
# The same defaults as services.sh, which exports them.
FASTAPI_CI_BUILDKIT="${FASTAPI_CI_BUILDKIT:-unix:///run/fastapi-ci/buildkitd.sock}"
FASTAPI_CI_BUILDX_CONFIG="${FASTAPI_CI_BUILDX_CONFIG:-$FASTAPI_CI_STATE_DIR/buildx}"
FASTAPI_CI_BUILDX_BUILDER="${FASTAPI_CI_BUILDX_BUILDER:-fastapi-ci-buildkit}"
FASTAPI_CI_BUILDKIT_PLATFORMS="${FASTAPI_CI_BUILDKIT_PLATFORMS:-linux/amd64,linux/arm64}"
FASTAPI_CI_DOCKER="${FASTAPI_CI_DOCKER:-/usr/bin/docker}"
WAIT_SECONDS="${FASTAPI_CI_WAIT_SECONDS:-60}"

BUILDKIT_BIN="$CACHE_ROOT/buildkit/$BUILDKIT_VERSION"
BUILDX_BIN="$CACHE_ROOT/buildx/$BUILDX_VERSION"
# Every docker client finds a plugin here, whatever its DOCKER_CONFIG (tests use throwaway ones).
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
BUILDKITD_CONFIG="$FASTAPI_CI_CONF_DIR/buildkitd.toml"
BUILDKITD_ROOT="$FASTAPI_CI_STATE_DIR/buildkit"
BUILDKITD_PIDFILE="$FASTAPI_CI_STATE_DIR/buildkitd.pid"
BUILDKITD_LOG="$FASTAPI_CI_LOG_DIR/buildkitd.log"
BUILD_LOG="$FASTAPI_CI_LOG_DIR/buildkit-build.log"

export GOMODCACHE="$CACHE_ROOT/go/mod" GOCACHE="$CACHE_ROOT/go/cache" GOTOOLCHAIN=local
export CGO_ENABLED=0 GOFLAGS=-mod=mod
# Go's own tarball installs to /usr/local/go; CI shells do not always have it on PATH.
PATH="$PATH:/usr/local/go/bin"

say() { printf 'buildkit: %s\n' "$*" >&2; }
die() {
  printf 'buildkit: ERROR: %s\n' "$*" >&2
  exit 1
}

# build_module MODULE VERSION OUT_DIR LDFLAGS TAGS PACKAGE...: build PACKAGEs (./cmd/...) of
# MODULE@VERSION into OUT_DIR. In the module's own directory, as its main module: `go install
# module@version` refuses buildkit, whose go.mod has exclude directives.
build_module() {
  local module="$1" version="$2" out="$3" ldflags="$4" tags="$5" dir
  shift 5
  dir="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -f "$dir/go.mod" ]] || die "go mod download $module@$version gave no module (is the Go module proxy reachable?)"
  (cd "$dir" && go build -p 2 -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$out/" "$@")
}

build() {
  local started=$SECONDS
  if [[ ! -f "$BUILDKIT_BIN/.built" || ! -f "$BUILDX_BIN/.built" ]]; then
    command -v go >/dev/null || die "go is not on PATH; install Go (e.g. /usr/local/go/bin) to build BuildKit"
    mkdir -p "$CACHE_ROOT/buildkit" "$CACHE_ROOT/buildx" "$FASTAPI_CI_LOG_DIR"
    # One builder at a time: two CI runs must not race on the same output directory.
    exec 8>"$CACHE_ROOT/buildkit/build.lock"
    flock -w 1800 8 || die "another build of BuildKit held $CACHE_ROOT/buildkit/build.lock for 30 minutes"
  fi
  if [[ ! -f "$BUILDKIT_BIN/.built" ]]; then
    say "building buildkitd and buildctl $BUILDKIT_VERSION (cold: many minutes; log: $BUILD_LOG)"
    rm -rf "$BUILDKIT_BIN.tmp"
    # The tags and static flags of buildkit's own Dockerfile.
    build_module github.com/moby/buildkit "$BUILDKIT_VERSION" "$BUILDKIT_BIN.tmp" \
      "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
      "osusergo netgo static_build seccomp" ./cmd/buildkitd ./cmd/buildctl >>"$BUILD_LOG" 2>&1 \
      || die "building buildkit $BUILDKIT_VERSION failed; see $BUILD_LOG"
    rm -rf "$BUILDKIT_BIN"
    mv "$BUILDKIT_BIN.tmp" "$BUILDKIT_BIN"
    touch "$BUILDKIT_BIN/.built"
  fi
  if [[ ! -f "$BUILDX_BIN/.built" ]]; then
    say "building docker-buildx $BUILDX_VERSION (log: $BUILD_LOG)"
    rm -rf "$BUILDX_BIN.tmp"
    build_module github.com/docker/buildx "$BUILDX_VERSION" "$BUILDX_BIN.tmp" \
      "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx" \
      "" ./cmd/buildx >>"$BUILD_LOG" 2>&1 \
      || die "building buildx $BUILDX_VERSION failed; see $BUILD_LOG"
    mv "$BUILDX_BIN.tmp/buildx" "$BUILDX_BIN.tmp/docker-buildx"
    rm -rf "$BUILDX_BIN"
    mv "$BUILDX_BIN.tmp" "$BUILDX_BIN"
    touch "$BUILDX_BIN/.built"
  fi
  if ! cmp -s "$BUILDX_BIN/docker-buildx" "$PLUGIN_DIR/docker-buildx"; then
    install -D -m 0755 "$BUILDX_BIN/docker-buildx" "$PLUGIN_DIR/docker-buildx"
  fi
  "$BUILDKIT_BIN/buildkitd" --version >/dev/null 2>&1 || die "$BUILDKIT_BIN/buildkitd does not run"
  "$FASTAPI_CI_DOCKER" buildx version >/dev/null 2>&1 \
    || die "\`$FASTAPI_CI_DOCKER buildx version\` fails with the plugin in $PLUGIN_DIR"
  ((SECONDS - started < 2)) || say "built buildkit $BUILDKIT_VERSION and buildx $BUILDX_VERSION in $((SECONDS - started)) s"
}

# qemu: arm64 binaries run here through qemu-user-static. The F flag (Debian's default for
# these entries) opens the interpreter at registration, so it works inside containers too.
qemu() {
  local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
  [[ -f /usr/share/binfmts/qemu-aarch64 ]] || die "qemu-user-static is not installed (apt-get install qemu-user-static binfmt-support)"
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
      || die "could not mount binfmt_misc on /proc/sys/fs/binfmt_misc"
  fi
  if ! head -n1 "$entry" 2>/dev/null | grep -qx enabled; then
    update-binfmts --enable qemu-aarch64 || die "update-binfmts --enable qemu-aarch64 failed"
  fi
  head -n1 "$entry" | grep -qx enabled || die "$entry is not enabled"
  grep -q '^flags: .*F' "$entry" || die "$entry has no F (fix binary) flag: $(grep '^flags' "$entry")"
}

write_buildkitd_config() {
  mkdir -p "$(dirname "$BUILDKITD_CONFIG")" "$BUILDKITD_ROOT" "$(dirname "${FASTAPI_CI_BUILDKIT#unix://}")"
  cat >"$BUILDKITD_CONFIG" <<EOF
# Generated by .ci/buildkit.sh; edits are overwritten.
root = "$BUILDKITD_ROOT"

[grpc]
  address = ["$FASTAPI_CI_BUILDKIT"]

[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  # Debian's runc; QEMU (binfmt_misc) runs the foreign platform's RUN steps.
  binary = "runc"
  platforms = [$(sed 's/[^,]*/"&"/g; s/,/, /g' <<<"$FASTAPI_CI_BUILDKIT_PLATFORMS")]
  # RUN steps share the host's network, like \`docker build\` here: no CNI set-up, and pip
  # reaches PyPI the same way.
  networkMode = "host"
  gc = true
  # A bound on the shared disk: the build cache is pruned past this.
  maxUsedSpace = "10GB"

[worker.containerd]
  enabled = false

# The local registry speaks plain HTTP; its credentials come from the client's docker config.
[registry."$FASTAPI_CI_REGISTRY"]
  http = true
EOF
}

buildctl() { "$BUILDKIT_BIN/buildctl" --addr "$FASTAPI_CI_BUILDKIT" "$@"; }
buildkitd_answers() { buildctl debug workers >/dev/null 2>&1; }
buildx() { BUILDX_CONFIG="$FASTAPI_CI_BUILDX_CONFIG" "$FASTAPI_CI_DOCKER" buildx "$@"; }

start_buildkitd() {
  local pid=""
  [[ -f "$BUILDKITD_PIDFILE" ]] && pid="$(cat "$BUILDKITD_PIDFILE")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    say "buildkitd (pid $pid) is running but not answering yet; waiting"
  else
    write_buildkitd_config
    say "starting buildkitd on $FASTAPI_CI_BUILDKIT (log: $BUILDKITD_LOG)"
    # Own session, no terminal; fd 8 and 9 (the build lock, services.sh's lock) closed.
    setsid nohup "$BUILDKIT_BIN/buildkitd" --config "$BUILDKITD_CONFIG" \
      >>"$BUILDKITD_LOG" 2>&1 </dev/null 8>&- 9>&- &
    echo "$!" >"$BUILDKITD_PIDFILE"
  fi
  local deadline=$((SECONDS + WAIT_SECONDS))
  until buildkitd_answers; do
    ((SECONDS < deadline)) || die "buildkitd did not answer on $FASTAPI_CI_BUILDKIT within ${WAIT_SECONDS}s; see $BUILDKITD_LOG"
    sleep 1
  done
  say "buildkitd is up"
}

# The platforms the running buildkitd's worker offers, comma separated.
worker_platforms() {
  buildctl debug workers --format '{{range .}}{{range .Platforms}}{{.OS}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}},{{end}}{{end}}' 2>/dev/null \
    | sed 's/,$//'
}

# The builder: the remote driver joined to buildkitd. In FASTAPI_CI_BUILDX_CONFIG, not a docker
# config, so clients with a throwaway DOCKER_CONFIG (the tests, build-push) still find it.
ensure_builder() {
  local inspect
  inspect="$(buildx inspect "$FASTAPI_CI_BUILDX_BUILDER" 2>/dev/null || true)"
  if ! grep -q "^Endpoint: *$FASTAPI_CI_BUILDKIT\$" <<<"$inspect" || ! grep -q '^Driver: *remote$' <<<"$inspect"; then
    buildx rm "$FASTAPI_CI_BUILDX_BUILDER" >/dev/null 2>&1 || true
    buildx create --name "$FASTAPI_CI_BUILDX_BUILDER" --driver remote \
      --platform "$FASTAPI_CI_BUILDKIT_PLATFORMS" "$FASTAPI_CI_BUILDKIT" >/dev/null \
      || die "docker buildx create --driver remote $FASTAPI_CI_BUILDKIT failed"
    say "created the buildx builder $FASTAPI_CI_BUILDX_BUILDER (remote driver, $FASTAPI_CI_BUILDKIT)"
  fi
  buildx inspect --bootstrap "$FASTAPI_CI_BUILDX_BUILDER" >/dev/null \
    || die "the buildx builder $FASTAPI_CI_BUILDX_BUILDER does not reach buildkitd at $FASTAPI_CI_BUILDKIT"
}

up() {
  build
  qemu
  buildkitd_answers || start_buildkitd
  local platform offered
  offered="$(worker_platforms)"
  for platform in ${FASTAPI_CI_BUILDKIT_PLATFORMS//,/ }; do
    [[ ",$offered," == *",$platform,"* ]] \
      || die "buildkitd's worker offers $offered, not $platform; see $BUILDKITD_LOG"
  done
  ensure_builder
}

# The version column of services.sh's table.
describe() {
  printf 'buildkitd %s, buildx %s, builder %s: %s\n' \
    "$(buildctl debug info --format '{{.BuildkitVersion.Version}}' 2>/dev/null || echo '?')" \
    "$("$FASTAPI_CI_DOCKER" buildx version 2>/dev/null | awk '{ print $2 }' || echo '?')" \
    "$FASTAPI_CI_BUILDX_BUILDER" "$(worker_platforms || echo '?')"
}

main() {
  mkdir -p "$FASTAPI_CI_LOG_DIR" "$FASTAPI_CI_STATE_DIR"
  case "${1:-up}" in
    build) build ;;
    qemu) qemu ;;
    up) up ;;
    describe) describe ;;
    *) die "usage: $0 build|qemu|up|describe" ;;
  esac
}
main "$@"
