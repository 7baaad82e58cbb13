"""Which interpreter runs the PROJECT's code (imports its app, runs its tests and alembic).

fastapi-ci itself runs in its own isolated environment; anything that must import the
project's dependencies runs in the project's interpreter instead. One rule for every action.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fastapi_ci.errors import InputError


def find_project_python(
    project_dir: Path, python: str | None, search_path: str | None = None
) -> str:
    """An explicit `python` input; else `<project_dir>/.venv/bin/python`; else `python` on PATH.

    On a runner the last is what setup-python plus `pip install -r requirements.txt` gave.
    `search_path` is the PATH to search (default: this process's).
    """
    path = search_path if search_path is not None else os.environ.get("PATH")
    if python:
        resolved = shutil.which(python, path=path)
        if resolved is None:
            raise InputError("python", f"{python!r} is not an executable interpreter")
        # Absolute: the interpreter is often run with the project as its working directory.
        return str(Path(resolved).absolute())
    project_venv = project_dir / ".venv" / "bin" / "python"
    if project_venv.exists():
        return str(project_venv.absolute())
    for candidate in ("python", "python3"):
        resolved = shutil.which(candidate, path=path)
        if resolved:
            return resolved
    raise InputError(
        "python",
        f"no {project_venv} and no `python` on PATH",
        fix="set the `python` input to the interpreter of the project's environment",
    )
