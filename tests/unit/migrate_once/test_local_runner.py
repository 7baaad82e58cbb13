"""The local runner runs the project's own `alembic`, wherever the project's venv is."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from fastapi_ci.action_io import Console
from fastapi_ci.migrate_once.runners import MigrationJob
from fastapi_ci.migrate_once.runners.local import LocalRunner
from tests.support.components import component_missing


def test_alembic_is_found_in_the_uv_workspace_roots_venv(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        component_missing("uv", "uv is not on PATH (pip install uv)")
    root = tmp_path / "repo"
    (root / "backend").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["backend"]\n')
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(root / ".venv")], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(root / ".venv" / "bin" / "python"),
         "alembic==1.20.1"],
        check=True,
        timeout=300,
    )  # fmt: skip
    stdout = io.StringIO()
    console = Console(env={}, stdout=stdout, stderr=io.StringIO())
    job = MigrationJob(
        command=["alembic", "--version"],
        # A PATH without any alembic: only the workspace's venv has one.
        env={"PATH": "/usr/bin:/bin"},
        timeout_seconds=60,
    )
    outcome = LocalRunner(working_directory=root / "backend").run(job, console)
    assert outcome.exit_code == 0, outcome.logs
    assert "alembic 1.20.1" in outcome.logs
