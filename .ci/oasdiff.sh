#!/usr/bin/env bash
# Build the real oasdiff (github.com/oasdiff/oasdiff), the oracle schema-guard's verdicts are
# compared with (tests/unit/schema_guard/test_differential_oasdiff.py, tests/bench).
#
#   .ci/oasdiff.sh     build it unless the cached binary exists; print the binary's path
#
# Idempotent and cached under /var/cache/fastapi-ci (survives between runs): the module and
# build caches are kept, so a rebuild after a version bump downloads only what changed.
# Needs Go and the Go module proxy (the only route to github.com/oasdiff here).
set -euo pipefail

OASDIFF_VERSION="${FASTAPI_CI_OASDIFF_VERSION:-v1.39.0}"
CACHE_ROOT="${FASTAPI_CI_CACHE_DIR:-/var/cache/fastapi-ci}"
BIN_DIR="$CACHE_ROOT/oasdiff/$OASDIFF_VERSION"
BINARY="$BIN_DIR/oasdiff"

die() {
  printf 'oasdiff.sh: ERROR: %s\n' "$*" >&2
  exit 1
}

# Go's own tarball installs to /usr/local/go; CI shells do not always have it on PATH.
PATH="$PATH:/usr/local/go/bin"

if [[ ! -x "$BINARY" ]]; then
  command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go (e.g. /usr/local/go/bin) to build oasdiff"
  mkdir -p "$BIN_DIR"
  # One builder at a time: two CI runs must not race on the same GOBIN.
  exec 9>"$BIN_DIR.lock"
  flock -w 900 9 || die "another build of oasdiff held $BIN_DIR.lock for 15 minutes"
  if [[ ! -x "$BINARY" ]]; then
    printf 'oasdiff.sh: building github.com/oasdiff/oasdiff@%s into %s\n' "$OASDIFF_VERSION" "$BIN_DIR" >&2
    # GOTOOLCHAIN=local: the installed Go builds it; never fetch a toolchain.
    GOBIN="$BIN_DIR" \
      GOMODCACHE="$CACHE_ROOT/go/mod" \
      GOCACHE="$CACHE_ROOT/go/cache" \
      GOTOOLCHAIN=local \
      go install "github.com/oasdiff/oasdiff@$OASDIFF_VERSION" \
      || die "go install github.com/oasdiff/oasdiff@$OASDIFF_VERSION failed (is the Go module proxy reachable?)"
  fi
fi
"$BINARY" --version >/dev/null 2>&1 || die "$BINARY does not run"
printf '%s\n' "$BINARY"
