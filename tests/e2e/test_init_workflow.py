"""The callers `fastapi-ci init` writes, run under act on the uv fixture project."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from fastapi_ci.cli import main
from tests.e2e.conftest import CallerRepository, RunAct
from tests.support.components import REPO_ROOT

PROJECT = REPO_ROOT / "tests" / "fixtures" / "projects" / "init-uv"
RELEASE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_the_ci_caller_init_writes_passes_on_a_uv_project(tmp_path: Path, run_act: RunAct) -> None:
    project = tmp_path / "orders"
    shutil.copytree(PROJECT, project)
    # The project's own environment, from its lock (as a developer has it): the golden file
    # is exported by the same FastAPI the workflow installs, so schema-guard sees no change.
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    subprocess.run(
        [uv, "sync", "--quiet", "--frozen", "--python", sys.executable], cwd=project, check=True
    )
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    assert main(["init", "--path", str(project), "--ref", RELEASE_COMMIT]) == 0
    repository = CallerRepository(project)
    repository.commit("fastapi-ci init")

    run = run_act(
        repository,
        "pull_request",
        workflow=".github/workflows/fastapi-ci.yml",
        library_refs=[RELEASE_COMMIT],
    )

    assert run.returncode == 0
    assert run.lines("quality-gate and schema-guard", "Job succeeded")
    summary = run.summary()
    assert "quality-gate: all 7 checks passed" in summary
    assert "No changes to the API" in summary
