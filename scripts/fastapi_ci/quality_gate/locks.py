"""Which pinned dependencies the audit checks: the project's requirements file or lock file.

Projects pin in different places: `requirements*.txt` beside the code, `poetry.lock` beside
pyproject.toml, or one `uv.lock` at the root of a uv workspace whose app lives in a member
directory below it. The audit must find the pins where they are: without them pip-audit
resolves the project's dependencies afresh (slow, needs the index, and audits versions the
project does not run).

Lock files are read here, not by a package manager: `uv.lock` and `poetry.lock` are TOML
with one `[[package]]` table per pinned distribution, so every registry package becomes a
`name==version` line that pip-audit checks as is (`--no-deps`: the lock IS the closure).
Neither uv nor Poetry needs to be installed where the gate runs.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi_ci.errors import InputError
from fastapi_ci.project_python import uv_workspace_root
from fastapi_ci.quality_gate.parsers import first_line_naming

LOCK_FILE_NAMES = ("uv.lock", "poetry.lock")

# Poetry's sources that are not a package index: nothing a vulnerability database knows.
_POETRY_LOCAL_SOURCES = frozenset({"directory", "file", "git", "url"})


@dataclass(frozen=True)
class AuditTarget:
    """What pip-audit is pointed at, and which file its findings are annotated on."""

    arguments: list[str]
    annotated_file: Path | None
    description: str


@dataclass(frozen=True)
class PinnedPackage:
    """One distribution a lock file pins."""

    name: str
    version: str


def _from_registry(package: Mapping[str, Any]) -> bool:
    source = package.get("source")
    if not isinstance(source, Mapping):
        return True  # poetry.lock: no source table means PyPI
    if "registry" in source:  # uv.lock
        return True
    if source.keys() & {"editable", "virtual", "workspace", "directory", "path", "git", "url"}:
        return False  # uv.lock: the project itself, a workspace member, a checkout
    return source.get("type") not in _POETRY_LOCAL_SOURCES


def pinned_packages(lock_file: Path) -> list[PinnedPackage]:
    """The registry packages a `uv.lock` or `poetry.lock` pins (exit 2 when it is not one)."""
    try:
        lock = tomllib.loads(lock_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(
            "requirements", f"{lock_file} is not a readable lock file: {error}"
        ) from None
    packages = lock.get("package")
    if not isinstance(packages, list):
        raise InputError(
            "requirements",
            f"{lock_file} has no [[package]] tables (not a uv or Poetry lock)",
            why="a .lock file is read as uv's or Poetry's to find the pinned versions",
            fix="give uv.lock, poetry.lock or a pinned requirements file",
            docs="quality-gate#quality-gate",
        )
    return [
        PinnedPackage(str(package["name"]), str(package["version"]))
        for package in packages
        if isinstance(package, Mapping)
        and "name" in package
        and "version" in package
        and _from_registry(package)
    ]


def lock_line(lock_text: str, package: str) -> int | None:
    """The 1-based line of a lock file's `name = "<package>"` (PEP 503 name matching)."""
    return first_line_naming(lock_text, package, _LOCK_NAME)


_LOCK_NAME = re.compile(r'^name\s*=\s*"([^"]+)"')


def is_lock_file(path: Path) -> bool:
    """True for a file read as a lock (`uv.lock`, `poetry.lock`, any `*.lock`)."""
    return path.suffix == ".lock"


def _search_roots(project_root: Path) -> Sequence[Path]:
    """The project and the directories above it up to its repository's root (a `.git`
    entry) or, outside a repository, up to its uv workspace's root: a lock above those
    belongs to another project."""
    project = project_root.absolute()
    above = [project, *project.parents]
    for index, directory in enumerate(above):
        if (directory / ".git").exists():
            return above[: index + 1]
    workspace = uv_workspace_root(project)
    return above[: above.index(workspace) + 1] if workspace is not None else [project]


def find_dependency_file(project_root: Path) -> Path | None:
    """The file whose pins the audit checks when the `requirements` input names none:
    requirements.txt in the project, else the nearest uv.lock or poetry.lock from the
    project up to the repository's (or uv workspace's) root, else pyproject.toml."""
    requirements = project_root / "requirements.txt"
    if requirements.is_file():
        return requirements
    for directory in _search_roots(project_root):
        for name in LOCK_FILE_NAMES:
            if (directory / name).is_file():
                return directory / name
    pyproject = project_root / "pyproject.toml"
    return pyproject if pyproject.is_file() else None


def audit_target(dependency_file: Path, project_root: Path, work_dir: Path) -> AuditTarget:
    """pip-audit's arguments for the file: a requirements file as is (`--disable-pip` when
    hash-pinned: the full closure, nothing to resolve), a lock file as its pins, a
    pyproject.toml as the project to resolve."""
    shown = _shown_path(dependency_file, project_root)
    if is_lock_file(dependency_file):
        pins = pinned_packages(dependency_file)
        exported = work_dir / f"{dependency_file.name}-requirements.txt"
        exported.write_text(
            "".join(f"{pin.name}=={pin.version}\n" for pin in pins), encoding="utf-8"
        )
        return AuditTarget(
            ["-r", str(exported), "--no-deps", "--disable-pip"], dependency_file, shown
        )
    if dependency_file.name == "pyproject.toml":
        return AuditTarget([str(dependency_file.parent)], dependency_file, shown)
    arguments = ["-r", str(dependency_file)]
    if "--hash=" in dependency_file.read_text(encoding="utf-8", errors="replace"):
        arguments.append("--disable-pip")
    return AuditTarget(arguments, dependency_file, shown)


def _shown_path(file: Path, project_root: Path) -> str:
    """`uv.lock`, or `../uv.lock` for a lock above the project."""
    return Path(os.path.relpath(file.absolute(), project_root.absolute())).as_posix()
