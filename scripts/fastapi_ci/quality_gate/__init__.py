"""quality-gate: lint, format, types, security, dependency audit and tests, in one fast gate.

`fastapi-ci quality-gate --path DIR` runs every enabled check concurrently (at most one per
CPU), collects all results, never stops at the first failure, and closes the gate (exit 1)
when any check fails. See `checks` for which environment each tool runs in, and why, and
`gate` for the run loop.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from fastapi_ci.action_io import Action, ActionInputs, ActionResult, Console
from fastapi_ci.errors import InputError
from fastapi_ci.quality_gate import locks, summary
from fastapi_ci.quality_gate.checks import (
    CHECKS,
    COVERAGE,
    REPORT_ORDER,
    TESTS,
    Check,
    CheckResult,
)
from fastapi_ci.quality_gate.checks.coverage import judge_coverage
from fastapi_ci.quality_gate.context import GateContext, cache_root, tool_environment
from fastapi_ci.quality_gate.gate import run_checks
from fastapi_ci.quality_gate.project import Project, load_project, probe_interpreter
from fastapi_ci.quality_gate.scheduler import ProcessSlots
from fastapi_ci.quality_gate.tools import tools_for

__all__ = ["QUALITY_GATE", "QualityGateInputs", "run_quality_gate"]

# mypy >= 1.11 prints its findings as JSON lines (`-O json`).
MYPY_JSON_SINCE = (1, 11)


class QualityGateInputs(ActionInputs):
    """The inputs of `actions/quality-gate/action.yml` (and the flags of the subcommand)."""

    path: str = Field(default=".", description="The project to check (a directory).")
    ruff: bool = Field(default=True, description="Run `ruff check`.")
    format: bool = Field(default=True, description="Run `ruff format --check`.")
    mypy: bool = Field(default=True, description="Run mypy with the project's interpreter.")
    bandit: bool = Field(default=True, description="Run bandit on the project's source.")
    bandit_severity: Literal["low", "medium", "high"] = Field(
        default="medium",
        description="The lowest bandit severity that fails the gate; findings below it are "
        "warnings on their lines (low: every finding fails).",
    )
    audit: bool = Field(default=True, description="Run pip-audit on the pinned dependencies.")
    tests: bool = Field(default=True, description="Run pytest with coverage.")
    coverage_min: float = Field(
        default=0,
        ge=0,
        le=100,
        description="Coverage floor in percent; 0 uses the project's own fail_under, if any.",
    )
    audit_required: bool = Field(
        default=False,
        description="Fail when the vulnerability service cannot be reached.",
    )
    python: str | None = Field(
        default=None,
        description="The project's interpreter (default: its .venv/venv, a uv workspace "
        "root's .venv or Poetry's environment, else python on PATH).",
    )
    requirements: str | None = Field(
        default=None,
        description="Requirements or lock file (uv.lock, poetry.lock) to audit, relative to "
        "path (default: requirements.txt, else the nearest uv.lock or poetry.lock up to the "
        "repository's or uv workspace's root, else pyproject.toml).",
    )
    test_shards: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="Split the test files over this many pytest processes; 0 = one per CPU. "
        "Tests that fail only when sharded are re-run in one process (the gate passes and "
        "says to set 1).",
    )
    annotations_per_check: int = Field(
        default=10, ge=0, le=10_000, description="At most this many annotations per check."
    )
    report_path: str | None = Field(
        default=None,
        description="Where to write the JSON report "
        "(default: $RUNNER_TEMP/fastapi-ci/quality-gate.json, else a temp dir).",
    )


def _enabled_checks(inputs: QualityGateInputs) -> list[Check]:
    return [check for check in CHECKS if getattr(inputs, check.name)]


def _requirements_file(inputs: QualityGateInputs, project: Project) -> Path | None:
    if inputs.requirements is None:
        return None
    requirements = project.root / inputs.requirements
    if not requirements.is_file():
        raise InputError(
            "requirements",
            f"{inputs.requirements} is not a file in {inputs.path}",
            why="pip-audit audits the exact versions this file pins",
            fix="give the file's path relative to `path` (requirements.txt, uv.lock, "
            "poetry.lock), or leave it unset",
            docs="quality-gate#quality-gate",
        )
    if locks.is_lock_file(requirements):
        locks.pinned_packages(requirements)  # not a uv or Poetry lock: exit 2 now
    return requirements


def _report_path(inputs: QualityGateInputs, env: Mapping[str, str]) -> Path:
    if inputs.report_path:
        return Path(inputs.report_path)
    runner_temp = env.get("RUNNER_TEMP")
    if runner_temp:
        return Path(runner_temp) / "fastapi-ci" / "quality-gate.json"
    return Path(tempfile.mkdtemp(prefix="fastapi-ci-")) / "quality-gate.json"


def prepare_gate(
    inputs: QualityGateInputs, env: Mapping[str, str], work_dir: Path, processes: int
) -> tuple[GateContext, list[Check]]:
    """Validate the project and its interpreter (exit 2 on a problem); return what to run,
    with at most `processes` tool processes at a time."""
    checks = _enabled_checks(inputs)
    needs = {check.name: check.needs for check in checks if check.needs}
    project = load_project(inputs.path, inputs.python, env, needs_python=bool(needs))
    requirements = _requirements_file(inputs, project)
    cache_dir = cache_root(env)
    tool_env = tool_environment(env, cache_dir)
    # Asked even when no check needs the project's code: its ruff, if any, is the one to run.
    probe = probe_interpreter(project.python, needs, tool_env, required=bool(needs))
    mypy_version = probe.mypy_version
    context = GateContext(
        project=project,
        env=tool_env,
        work_dir=work_dir,
        process_slots=ProcessSlots(processes),
        test_shards=inputs.test_shards or processes,
        cache_dir=cache_dir,
        mypy_has_json_output=mypy_version is None or mypy_version >= MYPY_JSON_SINCE,
        requirements=requirements,
        audit_required=inputs.audit_required,
        bandit_severity=inputs.bandit_severity,
        tools=tools_for(project.python, probe.versions),
    )
    return context, checks


def finish_results(
    inputs: QualityGateInputs, project: Project, results: Sequence[CheckResult]
) -> list[CheckResult]:
    """Add the coverage verdict and a `skipped` row per disabled check; order the rows."""
    by_name = {result.name: result for result in results}
    if TESTS.name in by_name:
        floor = inputs.coverage_min or project.coverage_fail_under()
        by_name[COVERAGE] = judge_coverage(by_name[TESTS.name], floor, project)
    for check in CHECKS:
        if check.name not in by_name:
            by_name[check.name] = CheckResult(
                name=check.name,
                status="skipped",
                blocking=False,
                detail=f"disabled ({check.name}: false)",
            )
    return [by_name[name] for name in REPORT_ORDER if name in by_name]


def run_quality_gate(inputs: QualityGateInputs, console: Console) -> ActionResult:
    """Run the enabled checks concurrently and report every one of them."""
    processes = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-quality-gate-") as work_dir:
        context, checks = prepare_gate(inputs, console.env, Path(work_dir), processes)
        console.info(
            f"quality-gate: {len(checks)} checks on {context.project.display_path} "
            f"({processes} processes at a time; python: {context.project.python})"
        )
        results = finish_results(inputs, context.project, run_checks(checks, context))

    tests = next((result for result in results if result.name == TESTS.name), None)
    coverage = tests.coverage.percent if tests is not None and tests.coverage else None
    report_path = _report_path(inputs, console.env)
    report = summary.build_report(
        results, coverage, inputs.model_dump(mode="json", exclude={"summary"})
    )
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    failed = summary.failed_check_names(results)
    return ActionResult(
        passed=not failed,
        text=summary.render_text(results) + f"\nreport: {report_path}",
        summary=summary.render_markdown(results),
        outputs={
            "passed": "true" if not failed else "false",
            "failed-checks": ",".join(failed),
            "coverage": f"{coverage:.2f}" if coverage is not None else "",
            "report-path": str(report_path),
        },
        report=report,
        annotations=summary.capped_annotations(results, inputs.annotations_per_check),
    )


QUALITY_GATE = Action(
    name="quality-gate",
    help="Run ruff, ruff format, mypy, bandit, pip-audit and pytest+coverage concurrently; "
    "fail if any check fails.",
    inputs=QualityGateInputs,
    run=run_quality_gate,
)
