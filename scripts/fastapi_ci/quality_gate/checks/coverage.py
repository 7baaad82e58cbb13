"""The `coverage` row: the tests run's coverage against the floor (a verdict of its own, so
a failing test and low coverage are told apart). Not a check that runs: it is judged from
the tests' result once they are done."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate.checks.verdict import CheckResult, verdict
from fastapi_ci.quality_gate.project import Project

COVERAGE = "coverage"
"""The row's name in the report (and in the `failed-checks` output)."""


def _line_ranges(lines: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    ranges: list[str] = []
    start = previous = None
    for line in [*sorted(lines), None]:
        if start is not None and line is not None and previous is not None and line == previous + 1:
            previous = line
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = line
    return ", ".join(ranges)


def judge_coverage(tests: CheckResult, floor: float | None, project: Project) -> CheckResult:
    """The `coverage` check, from the tests run's coverage.json and the floor.

    Under the floor, the least-covered files are annotated on their first line no test ran.
    """
    report = tests.coverage
    if report is None:
        return verdict(
            COVERAGE, "error", None, "pytest wrote no coverage report (see the tests output)"
        )
    figure = f"{report.percent:.1f}%"
    if not floor:
        return verdict(COVERAGE, "passed", None, f"{figure} (no floor set)")
    if report.percent >= floor:
        return verdict(COVERAGE, "passed", None, f"{figure} ≥ floor {floor:g}%")
    uncovered = sorted(
        (file for file in report.files if file.missing_lines), key=lambda file: file.percent
    )
    annotations = [
        Annotation(
            level="error",
            file=project.repo_path(file.file),
            line=min(file.missing_lines),
            title=f"coverage {file.percent:.1f}% in this file",
            message=(
                f"lines {_line_ranges(file.missing_lines)} never ran in the tests "
                f"(total {figure} < floor {floor:g}%)"
            ),
        )
        for file in uncovered
    ]
    return verdict(
        COVERAGE,
        "failed",
        None,
        f"{figure} < floor {floor:g}%",
        findings=len(annotations) or 1,
        annotations=annotations,
    )
