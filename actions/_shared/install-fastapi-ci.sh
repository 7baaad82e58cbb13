#!/usr/bin/env bash
# Install the fastapi-ci package from THIS checkout of the action repository (so an action
# at @v1 runs the code of v1) into a private virtualenv, once per job, with the versions
# pinned in uv.lock; then put its bin/ on the job's PATH. The caller's Python environment
# is never touched.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/fastapi-ci-venv"
stamp="$venv/.installed-from"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$root" ]]; then
  echo "fastapi-ci is already installed in $venv"
else
  python=$(command -v python3 || command -v python || true)
  # The package needs the Python of .python-version or newer (actions/setup-python gives it).
  if [[ -z "$python" ]] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "::error title=fastapi-ci::fastapi-ci needs Python >= 3.11 on PATH (found: ${python:-none}); add actions/setup-python before this step"
    exit 2
  fi
  "$python" -m venv "$venv"
  uv=$(command -v uv || true)
  if [[ -z "$uv" ]]; then
    # NOTE: uv resolves and installs the locked set in about a second, pip in ~20 s.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
    uv="$venv/bin/uv"
  fi
  requirements="$venv/requirements.txt"
  # Hash-checked: every wheel must match the lock, byte for byte.
  "$uv" export --quiet --frozen --no-dev --no-emit-project \
    --project "$root" --output-file "$requirements"
  "$uv" pip install --quiet --python "$venv/bin/python" -r "$requirements"
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps "$root"
  printf '%s' "$root" >"$stamp"
fi

if [[ -n "${GITHUB_PATH:-}" ]]; then
  echo "$venv/bin" >>"$GITHUB_PATH"
fi
"$venv/bin/fastapi-ci" --version
