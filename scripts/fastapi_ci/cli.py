"""The `fastapi-ci` command: one subcommand per action, nothing that is not implemented.

Only the chosen subcommand's module is imported: an action installs fastapi-ci with only
its own extra (schema-guard with none), and a command must not import what another needs.
A subcommand whose extra is not installed says which one to install (exit 2).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution, version
from typing import Any

from fastapi_ci.action_io import Action, Console, main_for
from fastapi_ci.errors import EXIT_BAD_INPUT


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand's `Action` is, and the extra (pyproject) it needs, if any."""

    module: str
    attribute: str
    extra: str | None = None


# The extras' distributions that prove an extra is installed (pyproject's optional deps).
EXTRA_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "quality": ("ruff", "bandit", "pip-audit"),
    "migrations": ("squawk-cli",),
    "deploy": ("docker", "boto3", "kubernetes", "httpx", "jsonschema"),
}
SUBCOMMANDS: dict[str, Subcommand] = {
    "quality-gate": Subcommand("fastapi_ci.quality_gate", "QUALITY_GATE", "quality"),
    "schema-guard": Subcommand("fastapi_ci.schema_guard", "SCHEMA_GUARD"),
    "schema-export": Subcommand("fastapi_ci.schema_guard", "SCHEMA_EXPORT"),
    "schema-diff": Subcommand("fastapi_ci.schema_guard", "SCHEMA_DIFF"),
    "migrate-once": Subcommand("fastapi_ci.migrate_once", "MIGRATE_ONCE", "deploy"),
    "migration-lint": Subcommand("fastapi_ci.migrate_once", "MIGRATION_LINT", "migrations"),
    "build-push": Subcommand("fastapi_ci.build_push", "BUILD_PUSH", "deploy"),
    "rollout": Subcommand("fastapi_ci.rollout", "ROLLOUT", "deploy"),
    "wait-stable": Subcommand("fastapi_ci.rollout", "WAIT_STABLE", "deploy"),
    "verify": Subcommand("fastapi_ci.verify", "VERIFY", "deploy"),
    "init": Subcommand("fastapi_ci.init", "INIT"),
}


def load_action(name: str) -> Action[Any]:
    """Import the one module that defines subcommand `name`."""
    subcommand = SUBCOMMANDS[name]
    action: Action[Any] = getattr(importlib.import_module(subcommand.module), subcommand.attribute)
    return action


def missing_extra(name: str) -> str | None:
    """The extra subcommand `name` needs and this installation lacks, if any."""
    extra = SUBCOMMANDS[name].extra
    if extra is None:
        return None
    for each in EXTRA_DISTRIBUTIONS[extra]:
        try:
            distribution(each)
        except PackageNotFoundError:
            return extra
    return None


def __getattr__(attribute: str) -> tuple[Action[Any], ...]:
    # `ACTIONS`, every subcommand, imported on demand (tests and tools that list them all).
    if attribute == "ACTIONS":
        return tuple(load_action(name) for name in SUBCOMMANDS)
    raise AttributeError(attribute)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fastapi-ci` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((each for each in arguments if not each.startswith("-")), None)
    if chosen in SUBCOMMANDS:
        extra = missing_extra(chosen)
        if extra is not None:
            Console(env=os.environ).error(
                f"{chosen} needs fastapi-ci's `{extra}` extra, which is not installed: "
                f"uv tool install 'fastapi-ci[{extra}]' (or 'fastapi-ci[all]')",
                title="fastapi-ci",
            )
            return EXIT_BAD_INPUT
        actions: Sequence[Action[Any]] = [load_action(chosen)]
    else:  # --help, --version, or a typo argparse will name: every subcommand is listed
        actions = [load_action(name) for name in SUBCOMMANDS]
    return main_for(actions, version("fastapi-ci"), arguments)


if __name__ == "__main__":
    sys.exit(main())
