"""Every action.yml wires every input to its command, 1:1 with the command's inputs model.

On GitHub a composite action's steps receive no INPUT_* variables, so an input that is not
passed through `env:` silently never arrives (act sets INPUT_* anyway, hiding the bug).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastapi_ci.action_io import Action, input_name
from fastapi_ci.cli import ACTIONS
from tests.components import REPO_ROOT

ACTION_FILES = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
COMMAND = re.compile(r"^fastapi-ci ([a-z-]+)\s*$")


def command_step(metadata: dict[str, Any]) -> tuple[Action[Any], dict[str, Any]]:
    """The step that runs `fastapi-ci <command>`, and that command's Action."""
    for step in metadata["runs"]["steps"]:
        match = COMMAND.match(step.get("run", "").strip())
        if match:
            return next(a for a in ACTIONS if a.name == match.group(1)), step
    raise AssertionError("no step runs `fastapi-ci <command>`")


def test_there_are_actions_to_check() -> None:
    assert ACTION_FILES


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_every_input_is_passed_through_env_under_its_own_name(path: Path) -> None:
    metadata = yaml.safe_load(path.read_text())
    action, step = command_step(metadata)
    declared = set(metadata["inputs"])
    model_inputs = {input_name(name) for name in action.inputs.model_fields}
    assert declared == model_inputs, "action.yml inputs and the command's inputs differ"
    expected_env = {
        action.env_prefix + name.upper().replace("-", "_"): f"${{{{ inputs.{name} }}}}"
        for name in declared
    }
    assert step.get("env", {}) == expected_env


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_no_expression_is_expanded_inside_a_run_script(path: Path) -> None:
    metadata = yaml.safe_load(path.read_text())
    for step in metadata["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"template injection risk in {step.get('name')}"


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_every_output_comes_from_the_command_step(path: Path) -> None:
    metadata = yaml.safe_load(path.read_text())
    _, step = command_step(metadata)
    for name, output in metadata.get("outputs", {}).items():
        assert output["value"] == f"${{{{ steps.{step['id']}.outputs.{name} }}}}"
        assert output.get("description")


def test_no_boolean_input_is_named_like_its_own_negation() -> None:
    # `--no-cache` would be parsed as the "false" form of a flag named `cache`.
    names = [input_name(name) for action in ACTIONS for name in action.inputs.model_fields]
    assert not [name for name in names if name.startswith("no-")]
