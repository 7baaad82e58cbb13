"""What every check needs to know, fixed before any check starts, and where it comes from:
fastapi-ci's cache directory and the environment the tools run in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi_ci.quality_gate.project import Project
from fastapi_ci.quality_gate.scheduler import BesideTests, ProcessSlots
from fastapi_ci.quality_gate.tools import Tool, tools_for


@dataclass(frozen=True)
class GateContext:
    """What every check needs to know, fixed before any check starts."""

    project: Project
    env: Mapping[str, str]
    work_dir: Path
    """A private temp dir for reports the tools write (JUnit XML, coverage data, exports)."""
    process_slots: ProcessSlots
    test_shards: int = 1
    """How many pytest processes share the test files (1: one plain pytest run)."""
    cache_dir: Path | None = None
    """fastapi-ci's own cache (the test files' last durations); None: nothing is kept."""
    mypy_has_json_output: bool = True
    requirements: Path | None = None
    audit_required: bool = False
    beside_tests: BesideTests | None = None
    """Set by `run_checks` when the network-bound checks run beside the tests."""
    bandit_severity: str = "low"
    """The lowest bandit severity that fails the check (lower ones are warnings)."""
    tools: Mapping[str, Tool] | None = None
    """The tool each check runs (`tools.tools_for`); None: as if the project had none."""

    def tool(self, check: str) -> Tool:
        """The copy of the tool the check named `check` runs (the project's or fastapi-ci's)."""
        return (self.tools or tools_for(self.project.python, {}))[check]


def cache_root(env: Mapping[str, str]) -> Path | None:
    """fastapi-ci's own cache: $XDG_CACHE_HOME/fastapi-ci, else ~/.cache/fastapi-ci."""
    base = env.get("XDG_CACHE_HOME") or (
        str(Path(env["HOME"]) / ".cache") if env.get("HOME") else ""
    )
    return Path(base) / "fastapi-ci" if base else None


def tool_environment(env: Mapping[str, str], cache_dir: Path | None) -> dict[str, str]:
    """The environment the tools run in: the caller's, with a bytecode cache of our own when
    the caller turned Python's off.

    With PYTHONDONTWRITEBYTECODE set (common in containers), every Python process compiles
    every module it imports from source, every time. Measured on example-service: 2.0 s of
    a pytest process's 3.6 s start-up (~760 modules), and again in each test shard and in
    each Python subprocess the tests start. So, unless the caller chose a cache themselves
    (PYTHONPYCACHEPREFIX, even empty), the tools write their bytecode under our cache
    directory: nothing is written into the checkout or its virtualenv, which is what that
    variable is usually there to prevent, and the tools' results are the same.
    """
    if not env.get("PYTHONDONTWRITEBYTECODE") or "PYTHONPYCACHEPREFIX" in env or not cache_dir:
        return dict(env)
    tool_env = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    tool_env["PYTHONPYCACHEPREFIX"] = str(cache_dir / "pycache")
    return tool_env
