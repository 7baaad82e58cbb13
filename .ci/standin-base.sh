#!/usr/bin/env bash
# Build the stand-in for python:3.11-slim from Debian bookworm packages.
#
# Docker Hub is unreachable from these machines, so Dockerfiles take their base
# image as a build arg and CI points it at this image. It is a debootstrap'd
# bookworm (Python 3.11) with the host's CA bundle inside, so pip in a build
# reaches PyPI through this network's TLS interception.
#
# Usage: .ci/standin-base.sh [TAG]   (default: $FASTAPI_CI_BASE_IMAGE)
# Does nothing if TAG already exists. The trimmed root filesystem is cached as a
# tarball, so re-creating the image after `docker rmi` is a `docker import` away.
# Also sourceable: defines build_standin_image TAG.
set -euo pipefail

FASTAPI_CI_BASE_IMAGE="${FASTAPI_CI_BASE_IMAGE:-fastapi-ci/python-standin:3.11}"
FASTAPI_CI_DOCKER="${FASTAPI_CI_DOCKER:-/usr/bin/docker}"
FASTAPI_CI_CACHE_DIR="${FASTAPI_CI_CACHE_DIR:-/var/cache/fastapi-ci}"
FASTAPI_CI_LOG_DIR="${FASTAPI_CI_LOG_DIR:-/var/log/fastapi-ci}"

# Bump when the recipe below changes, so a stale cached rootfs is not reused.
STANDIN_RECIPE=1
STANDIN_PACKAGES=python3,python3-venv,ca-certificates,passwd
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# The Debian mirror apt already uses here (deb.debian.org unless configured otherwise).
debian_mirror() {
  if [[ -n "${FASTAPI_CI_DEBIAN_MIRROR:-}" ]]; then
    echo "$FASTAPI_CI_DEBIAN_MIRROR"
    return
  fi
  local files=() f mirror
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  mirror=""
  if ((${#files[@]})); then
    mirror="$(cat "${files[@]}" | grep -vE '^[[:space:]]*#' | grep -oE 'https?://[^[:space:]]+' \
      | sed 's:/*$::' | grep -E '/debian$' | head -n1 || true)"
  fi
  echo "${mirror:-http://deb.debian.org/debian}"
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

make_standin_rootfs() {
  local tarball="$1" log="$2" mirror work root
  mirror="$(debian_mirror)"
  [[ -r "$HOST_CA_BUNDLE" ]] || { echo "standin-base: host CA bundle $HOST_CA_BUNDLE is missing (apt-get install ca-certificates)" >&2; return 1; }
  work="$(mktemp -d /var/tmp/fastapi-ci-standin.XXXXXX)"
  root="$work/root"
  echo "standin-base: debootstrap bookworm from $mirror (log: $log)" >&2
  if ! debootstrap --variant=minbase --include="$STANDIN_PACKAGES" bookworm "$root" "$mirror" >"$log" 2>&1; then
    echo "standin-base: debootstrap failed; see $log" >&2
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
  tar -C "$root" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  remove_rootfs "$work"
}

# build_standin_image TAG: create TAG unless it exists.
build_standin_image() {
  local tag="${1:-$FASTAPI_CI_BASE_IMAGE}" tarball
  if "$FASTAPI_CI_DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$FASTAPI_CI_CACHE_DIR" "$FASTAPI_CI_LOG_DIR"
  tarball="$FASTAPI_CI_CACHE_DIR/python-standin-bookworm-r$STANDIN_RECIPE.tar"
  if [[ ! -s "$tarball" ]]; then
    make_standin_rootfs "$tarball" "$FASTAPI_CI_LOG_DIR/standin-debootstrap.log"
  fi
  echo "standin-base: docker import $tarball -> $tag" >&2
  "$FASTAPI_CI_DOCKER" import \
    --change "ENV PIP_CERT=$HOST_CA_BUNDLE" \
    --change "ENV SSL_CERT_FILE=$HOST_CA_BUNDLE" \
    --change "ENV REQUESTS_CA_BUNDLE=$HOST_CA_BUNDLE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "fastapi-ci stand-in for python:3.11-slim (Debian bookworm, recipe $STANDIN_RECIPE)" \
    "$tarball" "$tag" >/dev/null
  # A venv with pip is what the Dockerfiles build on; prove it works.
  if ! "$FASTAPI_CI_DOCKER" run --rm --network none "$tag" \
    sh -c 'python -m venv /tmp/v && /tmp/v/bin/pip --version' >&2; then
    echo "standin-base: $tag was imported but cannot create a venv with pip" >&2
    return 1
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  build_standin_image "$@"
fi
