#!/usr/bin/env bash
# Run the test suite with coverage (floor in pyproject.toml). SQLite by default;
# set TEST_DATABASE_URL=postgresql://... to run it against PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pytest --cov=app --cov-report=term-missing --cov-report=xml "$@"
