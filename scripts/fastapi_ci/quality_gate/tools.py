"""Which copy of each tool runs, and how the report names it.

A project that pins its linters (ruff in its dev dependencies) has chosen their version:
its rules, its formatting, its bugs. The gate runs the project's copy when the project's
environment has one, so that the gate and the developer's `ruff check` agree; fastapi-ci's
own copy only otherwise; mypy likewise, ours resolving imports in the project's environment.
pytest always runs from the project's environment (it imports its code); bandit and
pip-audit always from ours (they never do, and a project's
pinned pip-audit may not speak the JSON we read). The report says which version ran from
where, for every check.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import metadata

PROJECT = "the project's environment"
OURS = "fastapi-ci"


@dataclass(frozen=True)
class Tool:
    """One tool as a check runs it: the command that starts it, and its name in the report."""

    command: tuple[str, ...]
    name: str
    version: str
    source: str

    @property
    def label(self) -> str:
        """`ruff 0.15.0 (the project's environment)`."""
        return f"{self.name} {self.version}".strip() + f" ({self.source})"


def ours(distribution: str, module: str | None = None) -> Tool:
    """A tool of fastapi-ci's own environment (`sys.executable -m`, never PATH)."""
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        version = "(unknown version)"
    return Tool(
        (sys.executable, "-m", module or distribution.replace("-", "_")),
        distribution,
        version,
        OURS,
    )


def projects(python: str, distribution: str, version: str, module: str | None = None) -> Tool:
    """A tool of the project's environment, run with the project's interpreter."""
    return Tool(
        (python, "-m", module or distribution.replace("-", "_")), distribution, version, PROJECT
    )


def project_or_ours(python: str, distribution: str, versions: Mapping[str, str]) -> Tool:
    """The project's copy when its environment has the distribution, else ours."""
    version = versions.get(distribution)
    if version:
        return projects(python, distribution, version)
    return ours(distribution)


def mypy_for(python: str, versions: Mapping[str, str]) -> Tool:
    """The project's mypy when it has one; else ours, resolving the project's imports in the
    project's environment (`--python-executable`), as its own mypy would."""
    version = versions.get("mypy")
    if version:
        return projects(python, "mypy", version)
    tool = ours("mypy")
    return replace(tool, command=(*tool.command, "--python-executable", python))


def tools_for(python: str, versions: Mapping[str, str]) -> dict[str, Tool]:
    """The tool each check runs, given the versions the project's environment has."""
    ruff = project_or_ours(python, "ruff", versions)
    return {
        "ruff": ruff,
        "format": ruff,
        "mypy": mypy_for(python, versions),
        "bandit": ours("bandit"),
        "audit": ours("pip-audit"),
        "tests": projects(python, "pytest", versions.get("pytest", "")),
    }
