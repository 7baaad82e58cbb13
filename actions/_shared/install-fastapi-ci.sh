#!/usr/bin/env bash
# Install the fastapi-ci package from THIS checkout of the action repository (so an action
# at @v1 runs the code of v1) into a private virtualenv, once per job, with the versions
# pinned in uv.lock; then put its bin/ on the job's PATH. The caller's Python environment
# is never touched.
#
#   install-fastapi-ci.sh plan [EXTRA...]     outputs: installed (true|false), cache-dir, cache-key
#   install-fastapi-ci.sh install [EXTRA...]  install (unless this job already did), add to PATH
#
# EXTRA: the pyproject extras the calling action needs (quality, migrations, deploy; none
# for schema-guard), so a job that diffs two OpenAPI files never downloads botocore. A later
# action of the same job adds its extras to the same venv; one whose extras are already
# there installs nothing.
#
# Between the two, each action.yml restores `cache-dir` with actions/cache under
# `cache-key` (the lock's hash, the OS, CPU and Python): uv's wheel cache and uv itself,
# so a warm job installs from disk, without the network, in about a second.
#
# FASTAPI_CI_CACHE=false (deploy.yml's deploy job sets it): no cache is restored or saved,
# and nothing already on disk is run. A cache is written by whichever job saved its key
# first, and a job that ran the service's tests ran third-party code that could have
# changed uv or an unpacked wheel before the save; a job holding production secrets
# executes only what it fetched itself, hash-checked (uv from uv-requirements.txt, every
# wheel from uv.lock), in a directory of its own, deleted afterwards.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
venv=$temp/fastapi-ci-venv
cache_dir=$temp/fastapi-ci-cache
stamp=$venv/.installed-from
# uv itself, when the runner has none: pinned and hash-checked by this file, whose content
# is part of the cache key, so a cached copy is always the one the file names.
uv_requirements=$root/actions/_shared/uv-requirements.txt
uv_version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$uv_requirements")

# What is installed is named by its content, not its path: act copies each action of the
# same repository to its own directory, GitHub shares one; both must install only once.
code_id() {
  (cd "$root" && find pyproject.toml uv.lock scripts -type f -not -name '*.pyc' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32)
}
cache_allowed() { [[ "${FASTAPI_CI_CACHE:-true}" != false ]]; }
# The stamp: the code's id on its first line, the extras installed with it on the second.
installed_extras() {
  if [[ -f "$stamp" && "$(head -n1 "$stamp")" == "$(code_id)" ]]; then sed -n 2p "$stamp"; fi
}
already_installed() {  # the code, and every extra asked for (arguments)
  [[ -f "$stamp" && "$(head -n1 "$stamp")" == "$(code_id)" ]] || return 1
  local have extra
  have=" $(installed_extras) "
  for extra in "$@"; do [[ "$have" == *" $extra "* ]] || return 1; done
}
# The extras, sorted and unique, space-separated (what the stamp and the cache key name).
extra_set() { printf '%s\n' "$@" | sed '/^$/d' | sort -u | paste -sd' ' -; }

project_python() {  # the runner's python3, if it is the version .python-version asks or newer
  local python
  python=$(command -v python3 || command -v python || true)
  if [[ -z "$python" ]] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "::error title=fastapi-ci::fastapi-ci needs Python >= 3.11 on PATH (found: ${python:-none}); add actions/setup-python before this step" >&2
    exit 2
  fi
  echo "$python"
}

set_output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "$1" >>"$GITHUB_OUTPUT"; else echo "$1"; fi
}

plan() {
  if already_installed "$@"; then
    set_output "installed=true"
    return
  fi
  local python lock_hash python_tag extras
  python=$(project_python)
  extras=$(extra_set "$@")
  lock_hash=$(cat "$root/uv.lock" "$uv_requirements" | sha256sum | cut -c1-16)
  python_tag=$("$python" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')
  set_output "installed=false"
  if cache_allowed; then set_output "cache=true"; else set_output "cache=false"; fi
  set_output "cache-dir=$cache_dir"
  # Each extra set caches only the wheels it installs (schema-guard's is a few MB).
  set_output "cache-key=fastapi-ci-${RUNNER_OS:-$(uname -s)}-$(uname -m)-$python_tag-uv$uv_version-$lock_hash-$(tr " " + <<<"${extras:-core}")"
}

install() {
  if already_installed "$@"; then
    echo "fastapi-ci is already installed in $venv"
  else
    local python uv extras extra
    local -a extra_flags=()
    python=$(project_python)
    if ! cache_allowed; then
      private_cache=$(mktemp -d "$temp/fastapi-ci-private-cache.XXXXXX")
      cache_dir=$private_cache
      trap 'rm -rf "$private_cache"' EXIT
    fi
    # What this job installed before stays: the venv gets the union of the extra sets.
    # shellcheck disable=SC2046  # the installed set is space-separated words
    extras=$(extra_set "$@" $(installed_extras))
    for extra in $extras; do extra_flags+=(--extra "$extra"); done
    uv=$(command -v uv || true)
    if [[ -z "$uv" ]]; then
      uv=$cache_dir/uv/bin/uv
      if [[ ! -x "$uv" ]]; then
        # NOTE: uv installs the locked set in about a second, pip in ~20 s.
        # A wheel only (never a Rust build from the sdist), nothing else to resolve, and
        # only one whose hash the requirements file lists.
        "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
          --require-hashes --only-binary=:all: --no-compile --target "$cache_dir/uv" \
          -r "$uv_requirements"
      fi
    fi
    # One `uv sync` straight from uv.lock: it creates the venv and installs the locked
    # runtime set, hash-checked (every wheel must match the lock, byte for byte), by the
    # URLs the lock names, so no index page is fetched. The package itself is installed
    # editable: its code is read from this checkout, only its metadata is built, and uv
    # caches that build until pyproject.toml's mtime changes (a stale build cannot hide a
    # code change). From a restored cache with that build, no network request at all.
    UV_CACHE_DIR=$cache_dir/wheels UV_PROJECT_ENVIRONMENT=$venv UV_PYTHON_DOWNLOADS=never \
      "$uv" sync --quiet --frozen --no-dev "${extra_flags[@]}" --python "$python" --project "$root"
    printf '%s\n%s\n' "$(code_id)" "$extras" >"$stamp"
  fi
  if [[ -n "${GITHUB_PATH:-}" ]]; then
    echo "$venv/bin" >>"$GITHUB_PATH"
  fi
  # What `fastapi-ci --version` prints, read from the installed metadata: starting the CLI
  # imports the chosen action, and the check right after this step starts it anyway.
  "$venv/bin/python" -c \
    'import importlib.metadata as m; print("fastapi-ci", m.version("fastapi-ci"))'
}

command=${1:-install}
shift || true
case "$command" in
  plan) plan "$@" ;;
  install) install "$@" ;;
  *)
    echo "usage: install-fastapi-ci.sh plan|install [EXTRA...]" >&2
    exit 2
    ;;
esac
