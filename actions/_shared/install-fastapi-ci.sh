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
# Between the two, each action.yml restores `cache-dir` with actions/cache under `cache-key`:
# the venv this script built in an earlier job (and uv itself, when the runner has none), so
# a warm job only checks it against the lock (`uv sync`, no download, well under a second)
# instead of unpacking every wheel again. uv's wheel cache is not saved: the venv holds the
# same files once. The key names what the venv is built from and for: the lock, the extra set,
# the OS, CPU, uv, and the interpreter (version, real path) and the venv's own path, as a
# venv is not relocatable (its scripts name its path, its python links to the base one).
# A venv restored that was built for another interpreter or path (its .fastapi-ci-built-for
# says) is removed and rebuilt, never used.
#
# FASTAPI_CI_CACHE=false (deploy.yml's deploy job sets it): no cache is restored or saved,
# and nothing already on disk is run. A cache is written by whichever job saved its key
# first, and a job that ran the service's tests ran third-party code that could have
# changed uv or the venv before the save; a job holding production secrets executes only
# what it fetched itself, hash-checked (uv from uv-requirements.txt, every wheel from
# uv.lock), uv and its wheel cache in a directory of its own, deleted afterwards.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
# What actions/cache saves and restores: the venv, and uv (uv/) when the script fetched it.
cache_dir=$temp/fastapi-ci-cache
venv=$cache_dir/venv
built_for=$venv/.fastapi-ci-built-for
# uv's wheel cache, for this job only (the venv is what is cached).
uv_cache=$temp/fastapi-ci-uv-cache
# This job's own record, never cached: what this job installed.
stamp=$temp/fastapi-ci-installed
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

# The runner's python3, if it is the version .python-version asks or newer, as
# "py3.11.7 /its/real/path": the interpreter says where it is (a pyenv shim on PATH is a
# script; uv would take a venv built by the interpreter for one built by another).
runner_python() {
  local python
  python=$(command -v python3 || command -v python || true)
  if [[ -z "$python" ]] || ! "$python" -c 'import os, sys
if sys.version_info < (3, 11): sys.exit(1)
print("py%d.%d.%d" % sys.version_info[:3], os.path.realpath(sys.executable))'; then
    echo "::error title=fastapi-ci::fastapi-ci needs Python >= 3.11 on PATH (found: ${python:-none}); add actions/setup-python before this step" >&2
    exit 2
  fi
}

set_output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "$1" >>"$GITHUB_OUTPUT"; else echo "$1"; fi
}

plan() {
  if already_installed "$@"; then
    set_output "installed=true"
    return
  fi
  local lock_hash built_for_now extras
  # What the venv is built for: "py3.11.7 /real/path/of/python3.11 VENV".
  built_for_now="$(runner_python) $venv"
  extras=$(extra_set "$@")
  lock_hash=$(cat "$root/uv.lock" "$uv_requirements" | sha256sum | cut -c1-16)
  set_output "installed=false"
  if cache_allowed; then set_output "cache=true"; else set_output "cache=false"; fi
  set_output "cache-dir=$cache_dir"
  # Each extra set caches only what it installs (schema-guard's venv is a few MB). The
  # Python's full version, then a hash of its real path and the venv's path.
  set_output "cache-key=fastapi-ci-${RUNNER_OS:-$(uname -s)}-$(uname -m)-${built_for_now%% *}-$(sha256sum <<<"$built_for_now" | cut -c1-8)-uv$uv_version-$lock_hash-$(tr " " + <<<"${extras:-core}")"
}

install() {
  if already_installed "$@"; then
    echo "fastapi-ci is already installed in $venv"
  else
    local interpreter python uv extras extra built_for_now
    local -a extra_flags=()
    interpreter=$(runner_python)
    python=${interpreter#* }
    built_for_now="$interpreter $venv"
    tools_dir=$cache_dir
    if ! cache_allowed; then
      private_cache=$(mktemp -d "$temp/fastapi-ci-private-cache.XXXXXX")
      tools_dir=$private_cache
      uv_cache=$private_cache/wheels
      trap 'rm -rf "$private_cache"' EXIT
      # A venv this job did not install came from elsewhere: never run it here.
      if [[ ! -f "$stamp" ]]; then rm -rf "$venv"; fi
    elif [[ -e "$venv" && "$(cat "$built_for" 2>/dev/null)" != "$built_for_now" ]]; then
      echo "::notice title=fastapi-ci::the restored venv was built for $(cat "$built_for" 2>/dev/null || echo 'something unknown'), not $built_for_now: building a new one"
      rm -rf "$venv"
    fi
    # What this job installed before stays: the venv gets the union of the extra sets.
    # shellcheck disable=SC2046  # the installed set is space-separated words
    extras=$(extra_set "$@" $(installed_extras))
    for extra in $extras; do extra_flags+=(--extra "$extra"); done
    uv=$(command -v uv || true)
    if [[ -z "$uv" ]]; then
      uv=$tools_dir/uv/bin/uv
      if [[ ! -x "$uv" ]]; then
        # NOTE: uv installs the locked set in about a second, pip in ~20 s.
        # A wheel only (never a Rust build from the sdist), nothing else to resolve, and
        # only one whose hash the requirements file lists.
        "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
          --require-hashes --only-binary=:all: --no-compile --target "$tools_dir/uv" \
          -r "$uv_requirements"
      fi
    fi
    # One `uv sync` straight from uv.lock: it creates the venv (or checks a restored one:
    # exact, so what the lock does not name for these extras is removed) and installs the
    # locked runtime set, hash-checked (every wheel must match the lock, byte for byte), by
    # the URLs the lock names, so no index page is fetched. The package itself is installed
    # editable: its code is read from this checkout, only its metadata is built (by uv
    # itself, no backend fetched); a restored venv's copy pointing at another checkout's
    # path is reinstalled. From a restored venv, no network request at all.
    UV_CACHE_DIR=$uv_cache UV_PROJECT_ENVIRONMENT=$venv UV_PYTHON_DOWNLOADS=never \
      "$uv" sync --quiet --frozen --no-dev "${extra_flags[@]}" --python "$python" --project "$root"
    echo "$built_for_now" >"$built_for"
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
