"""The project under check: where it is, which interpreter is its own, and what it configures.

Nothing here runs a check; it answers the questions every check asks (source directories,
a tool's config table, how a tool's file name becomes an annotation path) and rejects, with
exit code 2, a path that is not a Python project or an interpreter that cannot run a check.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import posixpath
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi_ci.errors import InputError
from fastapi_ci.project_python import find_project_python

PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")

ENVIRONMENT_DIRS = frozenset({".venv", "venv", "env", ".tox", ".nox"})

# Never checked as source: environments, build output, and the tests themselves (pytest
# runs them; type- and security-checking them is the project's choice, through its config).
NOT_SOURCE_DIRS = ENVIRONMENT_DIRS | {"build", "dist", "node_modules", "tests", "test"}


def _is_hidden_or_ignored(name: str) -> bool:
    return name.startswith(".") or name in NOT_SOURCE_DIRS or name == "__pycache__"


@dataclass(frozen=True)
class Project:
    """A Python project on disk, seen from the checked-out repository's root."""

    root: Path
    display_path: str
    """The project's path as annotations show it (relative to the repository root)."""
    python: str
    """The project's interpreter: mypy and pytest run with it, to see its dependencies."""
    pyproject: Mapping[str, Any] = field(default_factory=dict)

    def tool_config(self, tool: str) -> Mapping[str, Any] | None:
        """`[tool.<tool>]` of pyproject.toml, or None when the project does not configure it."""
        table = self.pyproject.get("tool", {}).get(tool)
        return table if isinstance(table, dict) else None

    @cached_property
    def source_dirs(self) -> list[str]:
        """The project's packages: top-level (or `src/`) directories with an `__init__.py`.

        These are the default targets of mypy and bandit when the project names none.
        Falls back to the project's top-level modules, then to "." (everything).
        """
        packages = [
            child.name
            for child in sorted(self.root.iterdir())
            if child.is_dir()
            and not _is_hidden_or_ignored(child.name)
            and (child / "__init__.py").is_file()
        ]
        src = self.root / "src"
        if src.is_dir():
            packages += [
                f"src/{child.name}"
                for child in sorted(src.iterdir())
                if child.is_dir() and (child / "__init__.py").is_file()
            ]
        if packages:
            return packages
        modules = [
            child.name
            for child in sorted(self.root.glob("*.py"))
            if child.name not in ("setup.py", "conftest.py")
        ]
        return modules or ["."]

    def repo_path(self, tool_path: str) -> str:
        """A file name as a tool printed it (absolute, or relative to the project root) as
        the path GitHub annotates: the project's `display_path` joined with it."""
        path = Path(tool_path)
        if path.is_absolute():
            for root in (self.root, self.root.resolve()):
                if path.is_relative_to(root):
                    path = path.relative_to(root)
                    break
            else:
                return tool_path  # outside the project (e.g. site-packages): leave it alone
        joined = PurePosixPath(self.display_path) / PurePosixPath(path.as_posix())
        return posixpath.normpath(str(joined))

    def is_project_file(self, tool_path: str) -> bool:
        """True for a file of the project's own, not of its virtualenv or site-packages."""
        path = Path(tool_path)
        absolute = path if path.is_absolute() else self.root / path
        try:
            relative = absolute.resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return (
            bool(relative.parts)
            and relative.parts[0] not in ENVIRONMENT_DIRS
            and "site-packages" not in relative.parts
        )

    def pytest_setting(self, key: str) -> list[str] | None:
        """A pytest ini option (`testpaths`, `python_files`) from the project's config files,
        in pytest's own order of precedence, as a list of words."""
        for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest")):
            value = ini_option(self.root / name, section, key)
            if value is not None:
                return value.split()
        table = self.tool_config("pytest")
        options = table.get("ini_options", {}) if table is not None else {}
        if key in options:
            value = options[key]
            return [value] if isinstance(value, str) else [str(item) for item in value]
        for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
            value = ini_option(self.root / name, section, key)
            if value is not None:
                return value.split()
        return None

    def test_files(self) -> list[Path]:
        """The files pytest would collect tests from (its `testpaths` and `python_files`),
        relative to the root; used to split the suite into shards."""
        patterns = self.pytest_setting("python_files") or ["test_*.py", "*_test.py"]
        found: set[Path] = set()
        for test_path in self.pytest_setting("testpaths") or ["."]:
            start = self.root / test_path
            if start.is_file():
                found.add(start.relative_to(self.root))
                continue
            for directory, subdirs, names in os.walk(start):
                subdirs[:] = [d for d in subdirs if d not in ENVIRONMENT_DIRS and d[0] != "."]
                found.update(
                    (Path(directory) / name).relative_to(self.root)
                    for name in names
                    if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
                )
        return sorted(found)

    def coverage_fail_under(self) -> float | None:
        """The project's own coverage floor (`fail_under` in coverage's config), used when
        the `coverage-min` input sets none."""
        table = self.tool_config("coverage")
        if table is not None and "fail_under" in table.get("report", {}):
            return float(table["report"]["fail_under"])
        value = self._coverage_option("report", "fail_under")
        return float(value) if value is not None else None

    def coverage_source_configured(self) -> bool:
        """True when coverage's config says what to measure (`[run] source`)."""
        table = self.tool_config("coverage")
        if table is not None and "source" in table.get("run", {}):
            return True
        return self._coverage_option("run", "source") is not None

    def _coverage_option(self, section: str, key: str) -> str | None:
        for name, prefix in (
            (".coveragerc", ""),
            ("setup.cfg", "coverage:"),
            ("tox.ini", "coverage:"),
        ):
            value = ini_option(self.root / name, prefix + section, key)
            if value is not None:
                return value
        return None

    def mypy_config_names_targets(self) -> bool:
        """True when the project's mypy config says what to check (files/packages/modules)."""
        keys = ("files", "packages", "modules")
        table = self.tool_config("mypy")
        if table is not None and any(key in table for key in keys):
            return True
        return any(
            ini_option(self.root / name, "mypy", key) is not None
            for name in ("mypy.ini", ".mypy.ini", "setup.cfg")
            for key in keys
        )


def ini_option(path: Path, section: str, key: str) -> str | None:
    """One option of an ini-style config file, or None (also for a file that does not parse)."""
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return None
    return parser.get(section, key, fallback=None)


def display_path_for(path_input: str, env: Mapping[str, str]) -> str:
    """The project path as annotations should show it: relative to the checkout.

    GitHub resolves annotation files against `$GITHUB_WORKSPACE`, so an absolute `path`
    inside the workspace is made relative to it; a relative one is used as written.
    """
    workspace = env.get("GITHUB_WORKSPACE")
    path = Path(path_input)
    if path.is_absolute() and workspace:
        resolved, root = path.resolve(), Path(workspace).resolve()
        if resolved.is_relative_to(root):
            return resolved.relative_to(root).as_posix() or "."
    return posixpath.normpath(path.as_posix())


def _looks_like_python_project(root: Path) -> bool:
    if any((root / marker).is_file() for marker in PROJECT_MARKERS):
        return True
    if any(root.glob("requirements*.txt")):
        return True
    for _directory, subdirs, files in os.walk(root):
        if any(name.endswith(".py") for name in files):
            return True
        subdirs[:] = [name for name in subdirs if not _is_hidden_or_ignored(name)]
    return False


def _read_pyproject(root: Path) -> dict[str, Any]:
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError("path", f"{pyproject} is not valid TOML: {error}") from None


def load_project(
    path_input: str, python_input: str | None, env: Mapping[str, str], needs_python: bool = True
) -> Project:
    """Check that `path` is a Python project and find its interpreter (exit 2 otherwise).

    With `needs_python` False (no check runs the project's code) a missing interpreter is
    no error: ruff, bandit and pip-audit run from fastapi-ci's environment.
    """
    root = Path(path_input).absolute()
    if not root.is_dir():
        raise InputError(
            "path",
            f"{path_input} is not a directory",
            fix="give the project's directory relative to the working directory (and check "
            "the job checked the repository out)",
            docs="quality-gate#quality-gate",
        )
    if not _looks_like_python_project(root):
        raise InputError(
            "path",
            f"{path_input} is not a Python project (no pyproject.toml, setup.py, setup.cfg, "
            "requirements*.txt or .py file)",
            why="the checks read a Python project's source and its configuration",
            fix="point `path` at the directory that holds pyproject.toml",
            docs="quality-gate#quality-gate",
        )
    try:
        python = find_project_python(root, python_input, env=env)
    except InputError:
        # Without a check that runs the project's code, ruff and bandit run from fastapi-ci's
        # environment and need no interpreter of the project's.
        if python_input or needs_python:
            raise
        python = "python"
    return Project(
        root=root,
        display_path=display_path_for(path_input, env),
        python=python,
        pyproject=_read_pyproject(root),
    )


# Runs inside the project's interpreter: which of the modules can it import, and which
# versions of the tools the gate may run from it (a tool it has is the project's choice).
_PROBE = """
import importlib.util, json, sys
from importlib.metadata import version
found = {m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}
versions = {}
for tool in ("mypy", "ruff", "pytest"):
    try:
        versions[tool] = version(tool)
    except Exception:
        pass
print(json.dumps({"modules": found, "versions": versions}))
"""


@dataclass(frozen=True)
class InterpreterProbe:
    """What the project's interpreter can run: the versions of the tools it has."""

    versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def mypy_version(self) -> tuple[int, ...] | None:
        """mypy's version as numbers, or None when the interpreter has no mypy."""
        raw = self.versions.get("mypy")
        return _version_tuple(raw) if raw else None


def probe_interpreter(
    python: str,
    modules_by_check: Mapping[str, Sequence[str]],
    env: Mapping[str, str],
    required: bool = True,
) -> InterpreterProbe:
    """Ask the project's interpreter for the modules the enabled checks need.

    A missing module exits 2 naming the check and the interpreter: running mypy or pytest
    from anywhere else would not see the project's dependencies and report nonsense.
    Not `required` (no check runs the project's code): an interpreter that cannot answer
    only means the tools run from fastapi-ci's environment.
    """
    modules = [module for needed in modules_by_check.values() for module in needed]
    try:
        completed = subprocess.run(
            [python, "-c", _PROBE, *modules],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        if not required:
            return InterpreterProbe()
        raise InputError("python", f"cannot run {python}: {error}") from None
    if completed.returncode != 0:
        if not required:
            return InterpreterProbe()
        raise InputError("python", f"{python} failed: {completed.stderr.strip().splitlines()[-1:]}")
    answer = json.loads(completed.stdout)
    missing = [module for module, present in answer["modules"].items() if not present]
    if missing:
        checks = [check for check, needed in modules_by_check.items() if set(needed) & set(missing)]
        quoted = ", ".join(f"'{module}'" for module in missing)
        raise InputError(
            "python",
            f"{python} has no module{'s' if len(missing) > 1 else ''} {quoted}; install "
            f"{'them' if len(missing) > 1 else 'it'} in the project's environment or disable "
            f"the check{'s' if len(checks) > 1 else ''} with "
            + ", ".join(f"{check}: false" for check in checks),
            why="each check runs with the project's interpreter, so it sees the project's "
            "own dependencies and versions",
            docs="quality-gate#quality-gate",
        )
    return InterpreterProbe(versions=dict(answer.get("versions", {})))


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
