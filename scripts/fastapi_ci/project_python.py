"""Which interpreter runs the PROJECT's code (imports its app, runs its tests and alembic).

fastapi-ci itself runs in its own isolated environment; anything that must import the
project's dependencies runs in the project's interpreter instead. One rule for every action,
for the shapes projects have: a `.venv` (or `venv`) of their own, a uv workspace whose
`.venv` and `uv.lock` sit at the workspace root above the app, a Poetry project whose
environment Poetry keeps elsewhere, or setup-python's interpreter on PATH.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi_ci.errors import InputError

# The names a project's own virtualenv goes by, in the order they are looked for.
VENV_NAMES = (".venv", "venv")

# `poetry env info -p` answers in well under a second; a hung one must not hold a check.
POETRY_TIMEOUT_SECONDS = 30


def read_pyproject(directory: Path) -> dict[str, Any]:
    """`directory/pyproject.toml` as a dict; {} when absent or not valid TOML."""
    try:
        return tomllib.loads((directory / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _is_workspace_member(root: Path, workspace: Mapping[str, Any], project: Path) -> bool:
    relative = project.relative_to(root).as_posix()
    if relative == ".":
        return True

    def matches(key: str) -> bool:
        patterns = workspace.get(key, [])
        return isinstance(patterns, list) and any(
            fnmatch.fnmatch(relative, str(pattern).rstrip("/")) for pattern in patterns
        )

    return matches("members") and not matches("exclude")


def uv_workspace_root(project_dir: Path) -> Path | None:
    """The root of the uv workspace `project_dir` is a member of (the directory whose
    pyproject.toml has `[tool.uv.workspace]` listing it), or None.

    The search goes up from the project and stops at the repository's root (a `.git`
    entry): a workspace outside the checkout is not the project's.
    """
    project = project_dir.absolute()
    for directory in (project, *project.parents):
        workspace = read_pyproject(directory).get("tool", {}).get("uv", {}).get("workspace")
        if isinstance(workspace, dict):
            return directory if _is_workspace_member(directory, workspace, project) else None
        if (directory / ".git").exists():
            return None
    return None


def _is_poetry_project(project_dir: Path) -> bool:
    return (project_dir / "poetry.lock").is_file() or "poetry" in read_pyproject(project_dir).get(
        "tool", {}
    )


def _poetry_environment(project_dir: Path, env: Mapping[str, str]) -> Path | None:
    """The virtualenv Poetry keeps for the project (`poetry env info -p`), when Poetry is
    installed and the environment exists; None otherwise."""
    poetry = shutil.which("poetry", path=env.get("PATH"))
    if poetry is None:
        return None
    try:
        answer = subprocess.run(
            [poetry, "env", "info", "--path"],
            cwd=project_dir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=POETRY_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = answer.stdout.strip()
    return Path(path) if answer.returncode == 0 and path else None


def find_project_environment(
    project_dir: Path, env: Mapping[str, str] | None = None
) -> Path | None:
    """The project's own virtualenv, or None when it has none we can find.

    In order: `.venv`/`venv` in the project; the uv workspace root's `.venv`; Poetry's
    environment for a Poetry project (when Poetry is installed). Not `VIRTUAL_ENV`: under
    `uv run fastapi-ci` that is fastapi-ci's own environment, not the project's.
    """
    env = os.environ if env is None else env
    project = project_dir.absolute()
    candidates = [project / name for name in VENV_NAMES]
    workspace = uv_workspace_root(project)
    if workspace is not None and workspace != project:
        candidates.append(workspace / ".venv")
    for venv in candidates:
        if (venv / "bin" / "python").exists():
            return venv
    if _is_poetry_project(project):
        poetry_venv = _poetry_environment(project, env)
        if poetry_venv is not None and (poetry_venv / "bin" / "python").exists():
            return poetry_venv
    return None


def find_project_python(
    project_dir: Path,
    python: str | None,
    search_path: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """An explicit `python` input; else the project's environment (`find_project_environment`);
    else `python` on PATH.

    On a runner the last is what setup-python plus `pip install -r requirements.txt` gave.
    `search_path` is the PATH to search (default: `env`'s, else this process's).
    """
    env = os.environ if env is None else env
    path = search_path if search_path is not None else env.get("PATH")
    if python:
        resolved = shutil.which(python, path=path)
        if resolved is None:
            raise InputError(
                "python",
                f"{python!r} is not an executable interpreter",
                fix="give an interpreter on PATH or its path (.venv/bin/python)",
                docs="quality-gate#quality-gate",
            )
        # Absolute: the interpreter is often run with the project as its working directory.
        return str(Path(resolved).absolute())
    venv = find_project_environment(project_dir, env)
    if venv is not None:
        return str(venv.absolute() / "bin" / "python")
    for candidate in ("python", "python3"):
        resolved = shutil.which(candidate, path=path)
        if resolved:
            return resolved
    raise InputError(
        "python",
        f"no virtualenv in {project_dir} (.venv, venv, a uv workspace's or Poetry's) "
        "and no `python` on PATH",
        why="the project is checked with its own interpreter, which has its dependencies",
        fix="set the `python` input to the interpreter of the project's environment",
        docs="quality-gate#quality-gate",
    )
