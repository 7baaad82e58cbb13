"""actions/quality-gate/action.yml's defaults, passed through env as the action does, run the gate.

The wiring itself (every input through env, outputs from the step) is checked for every
action by tests/repo/test_action_metadata.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastapi_ci.action_io import main_for
from fastapi_ci.quality_gate import QUALITY_GATE
from tests.support.github import read_outputs

ACTION_YML = Path(__file__).resolve().parents[3] / "actions" / "quality-gate" / "action.yml"


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION_YML.read_text())
    return loaded


def env_variable(name: str) -> str:
    return QUALITY_GATE.env_prefix + name.upper().replace("-", "_")


def test_the_actions_defaults_through_env_run_the_gate(
    action: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What GitHub passes when a workflow sets nothing but `path` (only ruff on, for speed)."""
    project = tmp_path / "svc"
    project.mkdir()
    (project / "main.py").write_text('"""A tiny service."""\n\nVALUE = 1\n')
    env = {
        **os.environ,
        **{env_variable(name): str(spec["default"]) for name, spec in action["inputs"].items()},
        env_variable("path"): str(project),
        **{env_variable(name): "false" for name in ("format", "mypy", "bandit", "audit", "tests")},
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "RUNNER_TEMP": str(tmp_path / "runner"),
    }
    assert main_for([QUALITY_GATE], "0", ["quality-gate"], env) == 0, capsys.readouterr()
    outputs = read_outputs(env["GITHUB_OUTPUT"])
    assert outputs == {
        "passed": "true",
        "failed-checks": "",
        "coverage": "",
        "report-path": str(tmp_path / "runner" / "fastapi-ci" / "quality-gate.json"),
    }
