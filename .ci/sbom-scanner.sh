#!/usr/bin/env bash
# An SBOM generator image for BuildKit (build-push's `sbom`), pushed to the local registry:
# BuildKit's default, docker/buildkit-syft-scanner, is on Docker Hub (unreachable here) and its
# Go module is refused by the module proxy, so this is syft itself (github.com/anchore/syft,
# built from its module) behind the same SBOM protocol (.ci/sbom-scanner/scan.py).
#
#   .ci/sbom-scanner.sh         build syft unless cached, build and push the image unless the
#                               registry has it; print its name
#   .ci/sbom-scanner.sh --name  print the image's name only (its tag: syft's version and a hash
#                               of the image's sources, so an edit of them makes a new image)
#
# Needs Go and the module proxy, the buildkit component (buildx, builder) and the registry.
# Cached under /var/cache/fastapi-ci/syft/<version>; cold: about 10 min of compiling.
set -euo pipefail

SYFT_VERSION="${FASTAPI_CI_SYFT_VERSION:-v1.18.1}"
CACHE_ROOT="${FASTAPI_CI_CACHE_DIR:-/var/cache/fastapi-ci}"
FASTAPI_CI_REGISTRY="${FASTAPI_CI_REGISTRY:-127.0.0.1:5000}"
BASE_IMAGE="${FASTAPI_CI_BASE_IMAGE_MULTIARCH:-$FASTAPI_CI_REGISTRY/fastapi-ci/python-standin:3.11}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCES_HASH="$(cat "$HERE/sbom-scanner/Dockerfile" "$HERE/sbom-scanner/scan.py" | sha256sum | cut -c1-12)"
IMAGE="${FASTAPI_CI_SBOM_SCANNER:-$FASTAPI_CI_REGISTRY/fastapi-ci/sbom-scanner:syft-$SYFT_VERSION-$SOURCES_HASH}"
SYFT_BIN="$CACHE_ROOT/syft/$SYFT_VERSION"

if [[ "${1:-}" == --name ]]; then
  echo "$IMAGE"
  exit 0
fi

export GOMODCACHE="$CACHE_ROOT/go/mod" GOCACHE="$CACHE_ROOT/go/cache" GOTOOLCHAIN=local
export CGO_ENABLED=0 GOFLAGS=-mod=mod
PATH="$PATH:/usr/local/go/bin"

say() { printf 'sbom-scanner: %s\n' "$*" >&2; }

# Already pushed (the registry speaks basic auth itself): nothing to do.
repository_and_tag="${IMAGE#*/}"
if curl --fail --silent --output /dev/null --max-time 10 \
  --user "${FASTAPI_CI_REGISTRY_USER:?}:${FASTAPI_CI_REGISTRY_PASSWORD:?}" \
  --header "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json" \
  "http://${IMAGE%%/*}/v2/${repository_and_tag%:*}/manifests/${repository_and_tag##*:}"; then
  echo "$IMAGE"
  exit 0
fi

if [[ ! -x "$SYFT_BIN/syft" ]]; then
  say "building syft $SYFT_VERSION (cached in $SYFT_BIN)"
  source_dir="$(cd /tmp && go mod download -json "github.com/anchore/syft@$SYFT_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$SYFT_BIN.tmp"
  (cd "$source_dir" && go build -trimpath -ldflags "-s -w" -o "$SYFT_BIN.tmp/syft" ./cmd/syft)
  mv "$SYFT_BIN.tmp" "$SYFT_BIN"
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$HERE/sbom-scanner/Dockerfile" "$HERE/sbom-scanner/scan.py" "$SYFT_BIN/syft" "$context/"
# The registry's login for this one push, in a throw-away client config.
export DOCKER_CONFIG="$context/docker-config"
printf '%s' "${FASTAPI_CI_REGISTRY_PASSWORD:?}" |
  docker login -u "${FASTAPI_CI_REGISTRY_USER:?}" --password-stdin "$FASTAPI_CI_REGISTRY" >/dev/null
BUILDX_CONFIG="${FASTAPI_CI_BUILDX_CONFIG:?}" BUILDX_BUILDER="${FASTAPI_CI_BUILDX_BUILDER:?}" \
  docker buildx build --progress=plain --platform linux/amd64 --provenance=false \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" --tag "$IMAGE" --push "$context" >&2
echo "$IMAGE"
