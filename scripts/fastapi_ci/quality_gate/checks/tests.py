"""The tests: pytest with coverage, split over shards (`sharding`); failing tests become
annotations from the JUnit reports. The coverage verdict is its own row (`coverage`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import parsers
from fastapi_ci.quality_gate.checks.interface import Check
from fastapi_ci.quality_gate.checks.verdict import CheckResult, findings_verdict, verdict
from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.sharding import rerun as shard_rerun
from fastapi_ci.quality_gate.sharding.durations import (
    durations_file,
    junit_file_seconds,
    keep_test_durations,
)
from fastapi_ci.quality_gate.sharding.suite import (
    PYTEST_FAILED,
    PYTEST_INTERRUPTED,
    PYTEST_NO_TESTS,
    SuiteRun,
    run_suite,
)


class TestsCheck(Check):
    """pytest with coverage; the longest check by far, and the gate's critical path."""

    name = "tests"
    priority = 0
    timeout_s = 3600
    needs = ("pytest", "pytest_cov")
    critical_path = True

    def run(self, context: GateContext) -> CheckResult:
        """Run the suite, keep its files' durations for the next split, judge it."""
        suite = run_suite(context, self, partial(pytest_command, context))
        keep_test_durations(durations_file(context), junit_file_seconds(suite.duration_reports))
        return self.judge(suite, context)

    def judge(self, suite: SuiteRun, context: GateContext) -> CheckResult:
        """The verdict on the suite's run, with its coverage report for the `coverage` row."""
        run = suite.run
        coverage = _coverage_report(suite.coverage_json)
        if run.returncode == PYTEST_NO_TESTS:
            return verdict(self.name, "failed", run, "pytest collected no tests", findings=1)
        project = context.project

        def parse_failures() -> list[Annotation]:
            return [
                annotation
                for junit in suite.failure_reports
                if junit.is_file()
                for annotation in parsers.parse_junit_failures(
                    junit.read_text(encoding="utf-8"), project.repo_path, project.is_project_file
                )
            ]

        result = findings_verdict(
            self, run, parse_failures, finding_exit_codes=(PYTEST_FAILED, PYTEST_INTERRUPTED)
        )
        if result.status == "passed":
            result.detail = "all tests passed"
        if suite.only_when_sharded:
            detail, warning = shard_rerun.not_shard_safe(suite.only_when_sharded, suite.shards)
            result.detail = detail if result.status == "passed" else f"{result.detail}; {detail}"
            result.annotations = [*result.annotations, warning]
        return result.model_copy(update={"coverage": coverage})


TESTS = TestsCheck()


def _coverage_report(coverage_json: Path) -> parsers.CoverageReport | None:
    """The merged coverage.json, if pytest wrote one that reads."""
    if not coverage_json.is_file():
        return None
    try:
        return parsers.parse_coverage_json(coverage_json.read_text(encoding="utf-8"))
    except parsers.ToolOutputError:
        return None


def pytest_command(
    context: GateContext,
    test_files: Sequence[Path | str],
    junit: Path,
    coverage_json: Path | None,
) -> list[str]:
    """pytest with JUnit XML (xunit1: it names each test's file) and coverage data.

    `--cov-fail-under=0` turns off pytest-cov's own floor: the coverage verdict is the gate's
    separate `coverage` check, so a failing test and low coverage are told apart. With no
    `test_files` pytest collects what the project's config says, as it would by itself.
    """
    project = context.project
    sources = project.source_dirs
    if project.coverage_source_configured() or sources == ["."]:
        cov = ["--cov"]
    else:
        cov = [f"--cov={source}" for source in sources]
    report = f"json:{coverage_json}" if coverage_json is not None else ""
    return [
        *TESTS.tool(context).command,
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
        # pytest's cache (last failures) in our temp dir, not the checkout: a .pytest_cache
        # the gate's own run wrote there would be one more directory for ruff to walk.
        "-o",
        f"cache_dir={junit.with_name(junit.stem + '-pytest-cache')}",
        *cov,
        f"--cov-report={report}",
        "--cov-fail-under=0",
        *(str(file) for file in test_files),
    ]
