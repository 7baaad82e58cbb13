"""What `fastapi-ci init` finds in a FastAPI project: the app, where it lives, how it installs.

Nothing here imports or runs the project's code: the app is found by reading the source
(a module-level `NAME = FastAPI(...)`), so detection works before any environment exists.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi_ci.errors import InputError

PackageManager = Literal["uv", "poetry", "pip"]

# Directories that never hold the project's own app: environments, caches, tests, VCS.
SKIPPED_DIRS = {
    "node_modules",
    "site-packages",
    "tests",
    "test",
    "build",
    "dist",
    "__pycache__",
}
# What marks a project's root (the working directory the workflows run in).
PROJECT_MARKERS = ("pyproject.toml", "uv.lock", "poetry.lock", "requirements.txt", "setup.py")
# The usual names of the module that builds the app, best first (app.main:app wins a tie).
PREFERRED_MODULE_NAMES = ("main", "app", "api", "server", "asgi")
# A readiness route already declared somewhere: `"/health/ready"`, `"/ready"`, `"/readyz"`.
READINESS_ROUTE = re.compile(r"""["'](/[\w/-]*)?/(ready|readyz|readiness)["']""")
MAX_SOURCE_BYTES = 1_000_000


@dataclass(frozen=True)
class AppLocation:
    """A FastAPI app found in the source: `module:attribute` importable from `directory`."""

    target: str
    directory: Path  # the project's root, relative to the repository root
    file: Path


@dataclass(frozen=True)
class Detection:
    """Everything init needs to know about the project."""

    app: AppLocation
    package_manager: PackageManager
    alembic: bool
    requirements: str | None  # the runtime requirements file (pip projects)
    dev_requirements: str | None  # requirements-dev.txt, which ci.yml installs by itself
    readiness_route: Path | None  # a file that already declares one


def python_files(root: Path) -> Iterator[Path]:
    """The project's own .py files: no hidden, environment, test or build directories."""
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parents = relative.parts[:-1]
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parents):
            continue
        if (root / relative.parts[0] / "pyvenv.cfg").exists():
            continue  # a virtualenv not named .venv
        yield path


def _read_source(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def fastapi_assignments(source: str) -> list[str]:
    """Module-level names assigned `FastAPI(...)` (or `fastapi.FastAPI(...)`) in `source`."""
    if "FastAPI(" not in source:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not isinstance(value, ast.Call):
            continue
        callee = value.func
        called = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if called != "FastAPI":
            continue
        names.extend(target.id for target in targets if isinstance(target, ast.Name))
    return names


def project_directory(root: Path, file: Path) -> Path:
    """The nearest directory above `file` (up to `root`) that holds a project marker."""
    for directory in [*file.parents]:
        if any((directory / marker).exists() for marker in PROJECT_MARKERS):
            return directory
        if directory == root:
            break
    return root


def module_name(directory: Path, file: Path) -> str:
    """The dotted module `file` is imported as from `directory` (a src/ layout's src/ dropped)."""
    parts = list(file.relative_to(directory).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if len(parts) > 1 and parts[0] == "src":
        parts.pop(0)
    return ".".join(parts)


def find_apps(root: Path) -> list[AppLocation]:
    """Every module-level FastAPI app in the project, the likeliest first."""
    found: list[AppLocation] = []
    for path in python_files(root):
        source = _read_source(path)
        if source is None:
            continue
        for name in fastapi_assignments(source):
            directory = project_directory(root, path)
            target = f"{module_name(directory, path)}:{name}"
            found.append(AppLocation(target, directory.relative_to(root), path))

    def likelihood(location: AppLocation) -> tuple[int, int, str]:
        stem = location.file.stem
        rank = (
            PREFERRED_MODULE_NAMES.index(stem)
            if stem in PREFERRED_MODULE_NAMES
            else len(PREFERRED_MODULE_NAMES)
        )
        return (rank, len(location.file.parts), location.target)

    return sorted(found, key=likelihood)


def locate_app(root: Path, app: str | None, working_directory: str | None) -> AppLocation:
    """The app to guard: the `app` input, else the one FastAPI assignment in the source."""
    if app is not None:
        directory = Path(working_directory or ".")
        module_path = Path(*app.split(":", 1)[0].split("."))
        candidates = [
            root / directory / module_path.with_suffix(".py"),
            root / directory / module_path / "__init__.py",
            root / directory / "src" / module_path.with_suffix(".py"),
        ]
        file = next((each for each in candidates if each.is_file()), candidates[0])
        if working_directory is None and not file.is_file():
            # The module may live below the repository root: where a scan finds it.
            for scanned in find_apps(root):
                if scanned.target.split(":")[0] == app.split(":")[0]:
                    return AppLocation(app, scanned.directory, scanned.file)
        return AppLocation(app, directory, file)
    found = find_apps(root)
    if working_directory is not None:
        found = [each for each in found if each.directory == Path(working_directory)]
    if not found:
        raise InputError(
            "app",
            f"no module-level `NAME = FastAPI(...)` found under {root}",
            why="init reads the source to find the app the workflows import and export",
            fix="pass the app as --app MODULE:ATTRIBUTE (and --working-directory)",
            docs="readme#start-here-fastapi-ci-init",
        )
    best = found[0]
    tied = [each for each in found[1:] if each.file.stem == best.file.stem]
    if tied:
        listed = ", ".join(f"{each.target} in {each.directory}" for each in [best, *tied])
        raise InputError(
            "app",
            f"several FastAPI apps look alike: {listed}",
            why="the workflows check and deploy one app, and init will not guess which",
            fix="choose one with --app",
            docs="readme#start-here-fastapi-ci-init",
        )
    return best


def package_manager_of(project: Path) -> PackageManager:
    """uv (uv.lock), poetry (poetry.lock or [tool.poetry]), else pip (requirements files)."""
    if (project / "uv.lock").is_file():
        return "uv"
    if (project / "poetry.lock").is_file():
        return "poetry"
    pyproject = project / "pyproject.toml"
    if pyproject.is_file() and "[tool.poetry" in (_read_source(pyproject) or ""):
        return "poetry"
    return "pip"


def requirement_files(project: Path) -> tuple[str | None, str | None]:
    """The runtime and the dev requirements files of a pip project, if any."""
    runtime = next(
        (
            name
            for name in ("requirements.txt", "requirements/prod.txt", "requirements/base.txt")
            if (project / name).is_file()
        ),
        None,
    )
    dev = "requirements-dev.txt" if (project / "requirements-dev.txt").is_file() else None
    return runtime, dev


def readiness_route_in(project: Path) -> Path | None:
    """A source file that already declares a readiness route, if any."""
    for path in python_files(project):
        source = _read_source(path)
        if source is not None and READINESS_ROUTE.search(source):
            return path
    return None


def detect(
    root: Path,
    app: str | None = None,
    working_directory: str | None = None,
    package_manager: PackageManager | None = None,
) -> Detection:
    """Detect the project in `root` (a repository); the arguments override what is found."""
    location = locate_app(root, app, working_directory)
    project = root / location.directory
    if not project.is_dir():
        raise InputError(
            "working-directory",
            f"{project} is not a directory",
            fix="give the directory of the app's project, relative to the repository root",
            docs="readme#start-here-fastapi-ci-init",
        )
    runtime, dev = requirement_files(project)
    return Detection(
        app=location,
        package_manager=package_manager or package_manager_of(project),
        alembic=(project / "alembic.ini").is_file(),
        requirements=runtime,
        dev_requirements=dev,
        readiness_route=readiness_route_in(project),
    )
