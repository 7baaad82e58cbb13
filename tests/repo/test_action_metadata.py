"""Every action.yml wires every input to its command, 1:1 with the command's inputs model.

On GitHub a composite action's steps receive no INPUT_* variables, so an input that is not
passed through `env:` silently never arrives (act sets INPUT_* anyway, hiding the bug).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from fastapi_ci.action_io import input_name
from fastapi_ci.cli import ACTIONS
from tests.support.actions import ACTION_FILES, command_step
from tests.support.components import REPO_ROOT


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


def test_a_cancelled_wait_stable_step_gets_the_signal_itself(tmp_path: Path) -> None:
    # The runner signals the step's process (bash running `run:`), not its group: only if
    # bash execs fastapi-ci does wait-stable see the SIGINT and roll back.
    metadata = yaml.safe_load((REPO_ROOT / "actions/wait-stable/action.yml").read_text())
    _action, step = command_step(metadata)
    marker = tmp_path / "got-sigint"
    stub = tmp_path / "fastapi-ci"
    stub.write_text(
        "#!/usr/bin/env python3\n"
        "import signal, sys, time\n"
        f"def stop(*_): open({str(marker)!r}, 'w').close(); sys.exit(1)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    stub.chmod(0o755)
    # How the runner starts a `shell: bash` step: the script in a file (bash -c would exec a
    # lone command by itself, and hide the problem).
    script = tmp_path / "step.sh"
    script.write_text(step["run"] + "\n")
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    finally:
        process.kill()
    assert marker.exists(), "the SIGINT never reached fastapi-ci"


# GitHub Marketplace's limits: it cuts a longer description, and refuses other colors; the
# icons are Feather's (the subset GitHub takes; extend it when an action needs another).
MARKETPLACE_DESCRIPTION_MAX = 125
BRANDING_COLORS = {
    "white",
    "black",
    "yellow",
    "blue",
    "green",
    "orange",
    "red",
    "purple",
    "gray-dark",
}
BRANDING_ICONS = {
    "activity", "alert-triangle", "anchor", "archive", "box", "check", "check-circle",
    "check-square", "cloud", "code", "cpu", "database", "eye", "git-branch", "git-commit",
    "git-merge", "git-pull-request", "layers", "lock", "package", "play", "refresh-cw",
    "rotate-ccw", "search", "send", "server", "shield", "tag", "terminal", "upload",
    "upload-cloud", "zap",
}  # fmt: skip


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.parent.name)
def test_every_action_has_marketplace_metadata(path: Path) -> None:
    metadata = yaml.safe_load(path.read_text())
    description = metadata["description"]
    assert len(description) <= MARKETPLACE_DESCRIPTION_MAX, (len(description), description)
    assert metadata["name"]
    assert metadata["author"]
    assert metadata["branding"]["icon"] in BRANDING_ICONS
    assert metadata["branding"]["color"] in BRANDING_COLORS
