#!/usr/bin/env bash
# Build the stand-in for python:3.11-slim from Debian bookworm packages.
#
# Docker Hub is unreachable from these machines, so Dockerfiles take their base
# image as a build arg and CI points it at this image. It is a debootstrap'd
# bookworm (Python 3.11) with the host's CA bundle inside, so pip in a build
# reaches PyPI through this network's TLS interception.
#
# Usage: .ci/standin-base.sh [TAG]                 the amd64 image TAG in the engine
#                                                  (default: $FASTAPI_CI_BASE_IMAGE)
#        .ci/standin-base.sh --multi-platform REF  push REF (a registry reference, default
#                                                  $FASTAPI_CI_BASE_IMAGE_MULTIARCH) as one
#                                                  manifest list: linux/amd64 and linux/arm64
#        .ci/standin-base.sh --platforms-of REF    print the platforms REF lists in the registry
# Does nothing if TAG (REF, with both platforms) already exists. Each trimmed root
# filesystem is cached as a tarball, so re-creating an image is a `FROM scratch` build away.
# The arm64 one is debootstrap'd under QEMU user-mode emulation (binfmt_misc, .ci/buildkit.sh
# qemu). The Debian mirror is the one the machine's apt sources name.
# Also sourceable: defines build_standin_image TAG and push_multi_platform_standin REF.
set -euo pipefail

FASTAPI_CI_BASE_IMAGE="${FASTAPI_CI_BASE_IMAGE:-fastapi-ci/python-standin:3.11}"
FASTAPI_CI_DOCKER="${FASTAPI_CI_DOCKER:-/usr/bin/docker}"
FASTAPI_CI_CACHE_DIR="${FASTAPI_CI_CACHE_DIR:-/var/cache/fastapi-ci}"
FASTAPI_CI_LOG_DIR="${FASTAPI_CI_LOG_DIR:-/var/log/fastapi-ci}"
FASTAPI_CI_REGISTRY="${FASTAPI_CI_REGISTRY:-127.0.0.1:5000}"
FASTAPI_CI_REGISTRY_USER="${FASTAPI_CI_REGISTRY_USER:-ci-user}"
FASTAPI_CI_REGISTRY_PASSWORD="${FASTAPI_CI_REGISTRY_PASSWORD:-ci-password-123}"
FASTAPI_CI_BASE_IMAGE_MULTIARCH="${FASTAPI_CI_BASE_IMAGE_MULTIARCH:-$FASTAPI_CI_REGISTRY/fastapi-ci/python-standin:3.11}"

# Bump when the recipe below changes, so a stale cached rootfs is not reused.
STANDIN_RECIPE=1
STANDIN_PACKAGES=python3,python3-venv,ca-certificates,passwd
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# The platforms of the manifest list; Debian's architecture names are Go's here.
MULTI_PLATFORM_ARCHES=(amd64 arm64)

say() { printf 'standin-base: %s\n' "$*" >&2; }

# The Debian mirror apt already uses here, and no other: this repository names no mirror.
debian_mirror() {
  if [[ -n "${FASTAPI_CI_DEBIAN_MIRROR:-}" ]]; then
    echo "$FASTAPI_CI_DEBIAN_MIRROR"
    return
  fi
  local apt="${FASTAPI_CI_APT_DIR:-/etc/apt}" files=() f mirror
  for f in "$apt/sources.list" "$apt"/sources.list.d/*.list "$apt"/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  mirror=""
  if ((${#files[@]})); then
    mirror="$(cat "${files[@]}" | grep -vE '^[[:space:]]*#' | grep -oE 'https?://[^[:space:]]+' \
      | sed 's:/*$::' | grep -E '/debian$' | head -n1 || true)"
  fi
  if [[ -z "$mirror" ]]; then
    say "no Debian mirror (a URL ending in /debian) in the apt sources ($apt/sources.list*); set FASTAPI_CI_DEBIAN_MIRROR"
    return 1
  fi
  echo "$mirror"
}

# standin_tarball ARCH: the cached root filesystem of ARCH. The amd64 one keeps the name it
# had before there were others, so existing caches stay valid.
standin_tarball() {
  local arch_part=""
  [[ "$1" == amd64 ]] || arch_part="-$1"
  echo "$FASTAPI_CI_CACHE_DIR/python-standin-bookworm$arch_part-r$STANDIN_RECIPE.tar"
}

# qemu_ready ARCH: this machine runs ARCH's binaries (natively or by a binfmt_misc entry
# with the F flag, whose interpreter works inside a chroot or a container too).
qemu_ready() {
  local arch="$1" entry
  [[ "$arch" == "$(dpkg --print-architecture)" ]] && return 0
  case "$arch" in
    arm64) entry=/proc/sys/fs/binfmt_misc/qemu-aarch64 ;;
    *) entry="/proc/sys/fs/binfmt_misc/qemu-$arch" ;;
  esac
  [[ -r "$entry" ]] && head -n1 "$entry" | grep -qx enabled && grep -q '^flags: .*F' "$entry"
}

# Unmount anything debootstrap left mounted under $1, then delete it without
# crossing into another file system (a mounted /proc under it, say).
remove_rootfs() {
  local root="$1" mnt
  [[ -d "$root" ]] || return 0
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf --one-file-system "$root"
}

# make_standin_rootfs ARCH TARBALL LOG
make_standin_rootfs() {
  local arch="$1" tarball="$2" log="$3" mirror work root started=$SECONDS
  mirror="$(debian_mirror)" || return 1
  [[ -r "$HOST_CA_BUNDLE" ]] || { say "host CA bundle $HOST_CA_BUNDLE is missing (apt-get install ca-certificates)"; return 1; }
  qemu_ready "$arch" || {
    say "this machine cannot run $arch binaries: no enabled binfmt_misc entry with the F flag (bash .ci/buildkit.sh qemu)"
    return 1
  }
  work="$(mktemp -d /var/tmp/fastapi-ci-standin.XXXXXX)"
  root="$work/root"
  say "debootstrap bookworm $arch from $mirror (log: $log)"
  if ! debootstrap --arch="$arch" --variant=minbase --include="$STANDIN_PACKAGES" bookworm "$root" "$mirror" >"$log" 2>&1; then
    say "debootstrap $arch failed; see $log"
    tail -n 20 "$log" >&2 || true
    remove_rootfs "$work"
    return 1
  fi
  # pip inside a build must trust the interception CA that the host trusts.
  cp "$HOST_CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  # Dockerfiles written for python:3.11-slim call `python`.
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
  # Keep the image small: package caches, indexes, docs, translations.
  rm -rf "${root:?}"/var/cache/apt/archives/*.deb "${root:?}"/var/cache/apt/*.bin \
    "${root:?}"/var/lib/apt/lists/* "${root:?}"/usr/share/doc/* "${root:?}"/usr/share/man/* \
    "${root:?}"/usr/share/info/* "${root:?}"/usr/share/locale/* "${root:?}"/var/log/* \
    "${root:?}"/tmp/* "${root:?}"/var/tmp/*
  # Callers test this function (`|| return 1`), which turns set -e off in it: check the writes.
  if ! tar -C "$root" --numeric-owner -cf "$tarball.partial" . || ! mv "$tarball.partial" "$tarball"; then
    say "could not write $tarball"
    rm -f "$tarball.partial"
    remove_rootfs "$work"
    return 1
  fi
  remove_rootfs "$work"
  say "made the $arch root filesystem in $((SECONDS - started)) s: $tarball"
}

# ensure_standin_rootfs ARCH: make ARCH's cached tarball unless it is there.
ensure_standin_rootfs() {
  local arch="$1" tarball log=debootstrap
  tarball="$(standin_tarball "$arch")"
  [[ -s "$tarball" ]] && return 0
  mkdir -p "$FASTAPI_CI_CACHE_DIR" "$FASTAPI_CI_LOG_DIR"
  [[ "$arch" == amd64 ]] || log="debootstrap-$arch"
  make_standin_rootfs "$arch" "$tarball" "$FASTAPI_CI_LOG_DIR/standin-$log.log"
}

# make_standin_image ARCH TAG: build TAG for linux/ARCH from ARCH's root filesystem, configured
# like python:3.11-slim, and prove a venv with pip works in it (under QEMU for a foreign ARCH).
# A `FROM scratch` build, not `docker import`: the 20.10 engine's import records the engine's
# own architecture whatever --platform says; a build records the platform it was asked for.
make_standin_image() {
  local arch="$1" tag="$2" tarball context status=0
  ensure_standin_rootfs "$arch" || return 1
  tarball="$(standin_tarball "$arch")"
  context="$(mktemp -d /var/tmp/fastapi-ci-standin-context.XXXXXX)"
  # A hard link where the cache is on the same file system: no 150 MB copy.
  ln "$tarball" "$context/rootfs.tar" 2>/dev/null || cp "$tarball" "$context/rootfs.tar"
  cat >"$context/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PIP_CERT=$HOST_CA_BUNDLE SSL_CERT_FILE=$HOST_CA_BUNDLE REQUESTS_CA_BUNDLE=$HOST_CA_BUNDLE \\
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
LABEL org.opencontainers.image.description="fastapi-ci stand-in for python:3.11-slim (Debian bookworm $arch, recipe $STANDIN_RECIPE)"
CMD ["python3"]
EOF
  say "building $tag (linux/$arch) from $tarball"
  DOCKER_BUILDKIT=1 "$FASTAPI_CI_DOCKER" build --quiet --platform "linux/$arch" --tag "$tag" "$context" \
    >/dev/null || status=$?
  rm -rf "$context"
  ((status == 0)) || { say "docker build of $tag failed"; return 1; }
  # A venv with pip is what the Dockerfiles build on; prove it works.
  if ! "$FASTAPI_CI_DOCKER" run --rm --network none --platform "linux/$arch" "$tag" \
    sh -c 'python -m venv /tmp/v && /tmp/v/bin/pip --version' >&2; then
    say "$tag was built but cannot create a venv with pip"
    return 1
  fi
}

# build_standin_image TAG: create TAG (amd64, in the engine) unless it exists.
build_standin_image() {
  local tag="${1:-$FASTAPI_CI_BASE_IMAGE}"
  "$FASTAPI_CI_DOCKER" image inspect "$tag" >/dev/null 2>&1 && return 0
  make_standin_image amd64 "$tag"
}

# registry_platforms REF: the platforms (os/arch, one a line) of the manifest list REF in the
# registry; nothing if REF is not there or is a single image.
registry_platforms() {
  local ref="$1" host rest
  host="${ref%%/*}"
  rest="${ref#*/}"
  curl -sf --max-time 10 -u "$FASTAPI_CI_REGISTRY_USER:$FASTAPI_CI_REGISTRY_PASSWORD" \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$host/v2/${rest%:*}/manifests/${rest##*:}" 2>/dev/null \
    | python3 -c 'import json, sys
for entry in json.load(sys.stdin).get("manifests", []):
    print(entry["platform"]["os"] + "/" + entry["platform"]["architecture"])' 2>/dev/null || true
}

has_every_platform() {
  local platforms arch
  platforms="$(registry_platforms "$1")"
  for arch in "${MULTI_PLATFORM_ARCHES[@]}"; do
    grep -qx "linux/$arch" <<<"$platforms" || return 1
  done
}

# push_multi_platform_standin REF: push one image per platform (REF-amd64, REF-arm64) and
# then REF, the manifest list of both, to the registry, unless REF already lists both.
# `docker manifest` is the Debian client's (experimental on 20.10); --insecure: plain HTTP.
push_multi_platform_standin() {
  local ref="${1:-$FASTAPI_CI_BASE_IMAGE_MULTIARCH}" arch config status=0 started=$SECONDS
  local per_platform=()
  has_every_platform "$ref" && return 0
  : "${FASTAPI_CI_REGISTRY_USER:?the registry user}" "${FASTAPI_CI_REGISTRY_PASSWORD:?the registry password}"
  for arch in "${MULTI_PLATFORM_ARCHES[@]}"; do
    per_platform+=("$ref-$arch")
    if [[ "$("$FASTAPI_CI_DOCKER" image inspect --format '{{.Architecture}}' "$ref-$arch" 2>/dev/null)" != "$arch" ]]; then
      make_standin_image "$arch" "$ref-$arch" || return 1
    fi
  done
  # A throwaway client config holds the login, so no other docker client is left logged in.
  config="$(mktemp -d)"
  (
    export DOCKER_CONFIG="$config" DOCKER_CLI_EXPERIMENTAL=enabled
    "$FASTAPI_CI_DOCKER" login -u "$FASTAPI_CI_REGISTRY_USER" --password-stdin "${ref%%/*}" \
      <<<"$FASTAPI_CI_REGISTRY_PASSWORD" >/dev/null 2>&1 || { say "docker login ${ref%%/*} failed"; exit 1; }
    for tag in "${per_platform[@]}"; do
      "$FASTAPI_CI_DOCKER" push "$tag" >/dev/null
    done
    "$FASTAPI_CI_DOCKER" manifest create --insecure "$ref" "${per_platform[@]}" >/dev/null
    "$FASTAPI_CI_DOCKER" manifest push --insecure --purge "$ref" >/dev/null
  ) >&2 || status=$?
  rm -rf "$config"
  ((status == 0)) || { say "pushing $ref failed"; return 1; }
  has_every_platform "$ref" || {
    say "pushed $ref, but the registry lists $(registry_platforms "$ref" | paste -sd, -), not linux/amd64 and linux/arm64"
    return 1
  }
  say "pushed $ref (linux/amd64, linux/arm64) in $((SECONDS - started)) s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    --multi-platform) push_multi_platform_standin "${@:2}" ;;
    --platforms-of) registry_platforms "${2:-$FASTAPI_CI_BASE_IMAGE_MULTIARCH}" | paste -sd, - ;;
    *) build_standin_image "$@" ;;
  esac
fi
