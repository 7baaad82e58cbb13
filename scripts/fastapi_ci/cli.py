"""The `fastapi-ci` command: one subcommand per action, nothing that is not implemented."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from fastapi_ci.action_io import Action, main_for
from fastapi_ci.build_push import BUILD_PUSH
from fastapi_ci.init import INIT
from fastapi_ci.migrate_once import MIGRATE_ONCE, MIGRATION_LINT
from fastapi_ci.quality_gate import QUALITY_GATE
from fastapi_ci.rollout import ROLLOUT, WAIT_STABLE
from fastapi_ci.schema_guard import SCHEMA_DIFF, SCHEMA_EXPORT, SCHEMA_GUARD

# Each action module exposes its `Action` objects; the CLI lists exactly these.
ACTIONS: tuple[Action[Any], ...] = (
    QUALITY_GATE,
    SCHEMA_GUARD,
    SCHEMA_EXPORT,
    SCHEMA_DIFF,
    MIGRATE_ONCE,
    MIGRATION_LINT,
    BUILD_PUSH,
    ROLLOUT,
    WAIT_STABLE,
    INIT,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fastapi-ci` console script."""
    return main_for(ACTIONS, version("fastapi-ci"), argv)


if __name__ == "__main__":
    sys.exit(main())
