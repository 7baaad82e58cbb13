#!/usr/bin/env bash
# Static checks, the same ones the quality gate runs.
set -euo pipefail
cd "$(dirname "$0")/.."

ruff check .
ruff format --check .
mypy app tests
bandit -q -r app
