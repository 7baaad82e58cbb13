"""The composite actions' install step: the locked package into a private venv, once per job."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.components import REPO_ROOT

INSTALL = REPO_ROOT / "actions" / "_shared" / "install-fastapi-ci.sh"


def install(runner_temp: Path, github_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNER_TEMP": str(runner_temp), "GITHUB_PATH": str(github_path)}
    return subprocess.run(
        ["bash", str(INSTALL)], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_install_puts_a_working_fastapi_ci_on_the_job_path_once(tmp_path: Path) -> None:
    github_path = tmp_path / "github_path"
    github_path.touch()
    first = install(tmp_path, github_path)
    assert first.returncode == 0, first.stderr
    bin_dir = github_path.read_text().splitlines()[0]
    assert bin_dir == str(tmp_path / "fastapi-ci-venv" / "bin")
    help_text = subprocess.run(
        [f"{bin_dir}/fastapi-ci", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "schema-guard" in help_text

    # A second action in the same job finds it installed and does not reinstall.
    second = install(tmp_path, github_path)
    assert second.returncode == 0, second.stderr
    assert "already installed" in second.stdout
