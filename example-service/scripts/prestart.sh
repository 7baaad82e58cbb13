#!/usr/bin/env bash
# Prepare the database for a new release: wait until it answers, then migrate.
# Run it ONCE per deploy as its own step (a one-shot job with the NEW image), before
# the rollout; never from the container's entrypoint, where every replica would race.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m app.backend_pre_start --timeout "${DB_WAIT_TIMEOUT_SECONDS:-60}"
alembic upgrade head
