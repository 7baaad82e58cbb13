"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself on a fixture git repository.

pre-commit installs fastapi-ci from a git repository holding this working tree (as it would
from GitHub at a `rev`), in an environment of its own; the project's code runs with the
project's interpreter, given with --python (here: this test's, which has FastAPI and alembic).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import copy_tracked_files
from tests.support.components import REPO_ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
PROJECTS = REPO_ROOT / "tests" / "fixtures" / "projects"
MIGRATIONS = REPO_ROOT / "tests" / "fixtures" / "migrate_once"
GIT = ["git", "-c", "user.email=hooks@fastapi-ci.test", "-c", "user.name=hooks"]


def commit_all(repository: Path, message: str) -> str:
    subprocess.run([*GIT, "add", "-A"], cwd=repository, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", message], cwd=repository, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def hooks_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This working tree as a git repository pre-commit can clone: (path, commit)."""
    repository = tmp_path_factory.mktemp("fastapi-ci-hooks")
    copy_tracked_files(REPO_ROOT, repository)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repository, check=True)
    return repository, commit_all(repository, "fastapi-ci")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hook environment for the module's tests (pre-commit installs it on first use)."""
    return tmp_path_factory.mktemp("pre-commit-home")


RunHooks = Callable[[Path, list[dict[str, object]]], subprocess.CompletedProcess[str]]


@pytest.fixture
def run_hooks(hooks_repository: tuple[Path, str], pre_commit_home: Path) -> RunHooks:
    """Commit the project with a config using these hooks, then `pre-commit run --all-files`."""
    repository, rev = hooks_repository

    def run(project: Path, hooks: list[dict[str, object]]) -> subprocess.CompletedProcess[str]:
        config = {"repos": [{"repo": str(repository), "rev": rev, "hooks": hooks}]}
        (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
        if not (project / ".git").exists():
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
        commit_all(project, "the project")
        completed = subprocess.run(
            [str(PRE_COMMIT), "run", "--all-files", "--color", "never"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("FASTAPI_CI_")},
                "PRE_COMMIT_HOME": str(pre_commit_home),
            },
        )
        print(completed.stdout[-5000:], completed.stderr[-3000:])
        return completed

    return run


def uv_project_with_golden(tmp_path: Path) -> Path:
    project = tmp_path / "orders"
    shutil.copytree(PROJECTS / "init-uv", project)
    subprocess.run(
        [
            sys.executable, "-m", "fastapi_ci", "schema-export", "--app", "app.main:app",
            "--app-dir", str(project), "--python", sys.executable,
            "--output", str(project / "openapi.json"),
        ],
        check=True,
    )  # fmt: skip
    return project


SCHEMA_GUARD = {"id": "schema-guard", "args": ["--app", "app.main:app", "--python", sys.executable]}


def test_the_schema_guard_hook_passes_an_unchanged_api(tmp_path: Path, run_hooks: RunHooks) -> None:
    run = run_hooks(uv_project_with_golden(tmp_path), [SCHEMA_GUARD])

    assert run.returncode == 0
    assert "fastapi-ci schema-guard" in run.stdout
    assert "Passed" in run.stdout


def test_the_schema_guard_hook_stops_a_commit_that_removes_an_endpoint(
    tmp_path: Path, run_hooks: RunHooks
) -> None:
    project = uv_project_with_golden(tmp_path)
    main = project / "app" / "main.py"
    main.write_text(main.read_text().replace('"/orders/{order_id}"', '"/v2/orders/{order_id}"'))

    run = run_hooks(project, [SCHEMA_GUARD])

    assert run.returncode == 1
    assert "Failed" in run.stdout
    assert "/orders/{order_id}" in run.stdout


def test_the_migration_lint_hook_stops_a_column_drop(tmp_path: Path, run_hooks: RunHooks) -> None:
    project = tmp_path / "service"
    shutil.copytree(MIGRATIONS / "alembic_project", project)
    hook = {
        "id": "migration-lint",
        "args": ["--python", sys.executable, "--since", "0003", "--no-drift-check"],
    }
    clean = run_hooks(project, [hook])
    shutil.copy(
        MIGRATIONS / "lint_revisions" / "drop_column.py",
        project / "migrations" / "versions" / "drop_column.py",
    )

    dropped = run_hooks(project, [hook])

    assert clean.returncode == 0, clean.stdout
    assert dropped.returncode == 1
    assert "ban-drop-column" in dropped.stdout
