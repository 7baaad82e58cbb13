"""The fixture projects of `tests/fixtures/projects/`, each a real shape users' projects have,
installed for real (from PyPI, pinned, through uv's cache: a warm build takes about a second).

A session builds each project once (`built_project`); a test that plants files works on its
own copy of the sources whose virtualenv is a symlink to the built one (`project_copy`).
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.support.components import component_missing

PROJECTS = Path(__file__).resolve().parents[1] / "fixtures" / "projects"

# Where each project's app (the gate's `path`) and its virtualenv are, relative to its root.
APP_DIRS = {"uv-workspace": "backend"}
PYTHON_VERSION = "3.11"


@dataclass(frozen=True)
class BuiltProject:
    """A fixture project on disk with its virtualenv."""

    root: Path
    app: Path
    """The directory the gate checks (the uv workspace's member, else the root)."""
    venv: Path


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        component_missing("uv", "uv is not on PATH (pip install uv)")
    return uv


def _install(name: str, root: Path) -> None:
    uv = _uv()
    quiet = ["--quiet", "--python", PYTHON_VERSION]
    if (root / "uv.lock").is_file():
        # The workspace's own way: one .venv at the root, from its lock.
        subprocess.run([uv, "sync", "--frozen", *quiet], cwd=root, check=True, timeout=600)
        return
    subprocess.run([uv, "venv", *quiet, str(root / ".venv")], check=True, timeout=120)
    install = [uv, "pip", "install", "--quiet", "--python", str(root / ".venv" / "bin" / "python")]
    if (root / "poetry.lock").is_file():
        # What `poetry install` would put in an in-project venv: the lock's pins, as they are.
        lock = tomllib.loads((root / "poetry.lock").read_text(encoding="utf-8"))
        pins = [f"{package['name']}=={package['version']}" for package in lock["package"]]
        subprocess.run([*install, "--no-deps", *pins], check=True, timeout=600)
    else:
        subprocess.run(
            [*install, "-r", str(root / "requirements-dev.txt")], check=True, timeout=600
        )


def built_project(name: str, into: Path) -> BuiltProject:
    """Copy `tests/fixtures/projects/<name>` into `into` and install its environment."""
    root = Path(shutil.copytree(PROJECTS / name, into / name))
    _install(name, root)
    return BuiltProject(root=root, app=root / APP_DIRS.get(name, "."), venv=root / ".venv")


def project_copy(built: BuiltProject, into: Path) -> BuiltProject:
    """A copy of the built project's sources (not its caches) sharing its virtualenv."""
    root = Path(
        shutil.copytree(
            built.root,
            into / built.root.name,
            ignore=shutil.ignore_patterns(
                ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__", "*.sqlite3"
            ),
        )
    )
    (root / ".venv").symlink_to(built.venv, target_is_directory=True)
    return BuiltProject(
        root=root, app=root / built.app.relative_to(built.root), venv=root / ".venv"
    )
