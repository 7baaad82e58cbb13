"""The install steps of the workflows as a runner runs them: a runner's venv and pip, and a
step's script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.components import REPO_ROOT

# The pip a runner's Python brings (actions/setup-python's 3.11, Ubuntu's python3-venv).
PIP_23 = "23.2.1"


def venv_with_pip_23(directory: Path) -> Path:
    """A fresh venv as a user's or a runner's Python makes it, with pip 23: its bin/."""
    subprocess.run(["python3", "-m", "venv", str(directory)], check=True)
    python = str(directory / "bin" / "python")
    pip_version = subprocess.run(
        [python, "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    if pip_version != PIP_23:
        subprocess.run([python, "-m", "pip", "install", "-q", f"pip=={PIP_23}"], check=True)
    return directory / "bin"


def step_script(workflow: str, step_name: str) -> str:
    """The `run:` text of a workflow step, as the runner would execute it."""
    jobs = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / workflow).read_text())["jobs"]
    for job in jobs.values():
        for step in job.get("steps", []):
            if step.get("name") == step_name:
                return str(step["run"])
    raise AssertionError(f"{workflow} has no step named {step_name!r}")
