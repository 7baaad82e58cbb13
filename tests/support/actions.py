"""The repository's action.yml files and the step of each that runs its `fastapi-ci` command."""

from __future__ import annotations

import re
from typing import Any

from fastapi_ci.action_io import Action
from fastapi_ci.cli import ACTIONS
from tests.support.components import REPO_ROOT

ACTION_FILES = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
COMMAND = re.compile(r"^(?:exec )?fastapi-ci ([a-z-]+)\s*$")


def command_step(metadata: dict[str, Any]) -> tuple[Action[Any], dict[str, Any]]:
    """The step that runs `fastapi-ci <command>`, and that command's Action."""
    for step in metadata["runs"]["steps"]:
        match = COMMAND.match(step.get("run", "").strip())
        if match:
            return next(a for a in ACTIONS if a.name == match.group(1)), step
    raise AssertionError("no step runs `fastapi-ci <command>`")
