"""The gate's own logic around the tools: verdicts, coverage floor, audit, shards, slots."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import checks, summary
from fastapi_ci.quality_gate.checks import CheckResult, GateContext, ProcessSlots, ToolRun
from fastapi_ci.quality_gate.parsers import CoverageReport, FileCoverage
from fastapi_ci.quality_gate.project import Project

RECORDINGS = Path(__file__).resolve().parents[2] / "fixtures" / "quality_gate"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "requirements.txt").write_text("jinja2==2.11.0\nrequests==2.19.0\n")
    return Project(root=tmp_path, display_path="svc", python="python")


def context_for(project: Project, tmp_path: Path, **fields: object) -> GateContext:
    return GateContext(
        project=project,
        env={},
        work_dir=tmp_path,
        process_slots=ProcessSlots(2),
        **fields,  # type: ignore[arg-type]
    )


def audit_run(stdout: str = "", stderr: str = "", returncode: int | None = 0) -> ToolRun:
    return ToolRun(["pip-audit"], returncode, stdout, stderr, 1.0)


def requirements_target(project: Project) -> checks.AuditTarget:
    file = project.root / "requirements.txt"
    return checks.AuditTarget(["-r", str(file)], file, "requirements.txt")


def test_vulnerable_pin_fails_the_audit_on_its_requirements_line(
    project: Project, tmp_path: Path
) -> None:
    run = audit_run((RECORDINGS / "pip-audit-vulnerable.json").read_text(), returncode=1)
    result = checks.judge_audit(context_for(project, tmp_path), requirements_target(project), run)
    assert (result.status, result.blocking, result.findings) == ("failed", True, 3)
    first = result.annotations[0]
    assert (first.file, first.line) == ("svc/requirements.txt", 1)
    assert "PYSEC-2021-66" in first.message
    assert "fixed in 2.11.3" in first.message
    assert result.annotations[1].line == 2


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(
            audit_run((RECORDINGS / "pip-audit-pypi-unreachable.json").read_text()),
            id="every-dependency-skipped",
        ),
        pytest.param(
            audit_run(
                stderr=(RECORDINGS / "pip-audit-osv-unreachable.stderr").read_text(), returncode=1
            ),
            id="service-host-unreachable",
        ),
        pytest.param(audit_run(returncode=None), id="timed-out"),
    ],
)
def test_unreachable_audit_is_a_warning_never_a_pass(
    run: ToolRun, project: Project, tmp_path: Path
) -> None:
    result = checks.judge_audit(context_for(project, tmp_path), requirements_target(project), run)
    assert (result.status, result.blocking) == ("unavailable", False)
    [warning] = result.annotations
    assert warning.level == "warning"
    assert "NOT checked" in warning.message


def test_unreachable_audit_closes_the_gate_when_required(project: Project, tmp_path: Path) -> None:
    run = audit_run((RECORDINGS / "pip-audit-pypi-unreachable.json").read_text())
    context = context_for(project, tmp_path, audit_required=True)
    result = checks.judge_audit(context, requirements_target(project), run)
    assert (result.status, result.blocking) == ("unavailable", True)
    assert result.annotations[0].level == "error"
    assert summary.failed_check_names([result]) == ["audit"]


def test_pip_audit_crash_is_an_error_not_unavailable(project: Project, tmp_path: Path) -> None:
    run = audit_run(stderr="ERROR: invalid requirement", returncode=1)
    result = checks.judge_audit(context_for(project, tmp_path), requirements_target(project), run)
    assert (result.status, result.blocking) == ("error", True)
    assert "invalid requirement" in result.detail


def passed_tests_with_coverage(percent: float) -> CheckResult:
    report = CoverageReport(
        percent=percent,
        files=[
            FileCoverage(file="app/a.py", percent=50.0, missing_lines=[7, 8, 9, 12]),
            FileCoverage(file="app/b.py", percent=20.0, missing_lines=[3]),
            FileCoverage(file="app/c.py", percent=100.0),
        ],
    )
    return CheckResult(name="tests", status="passed", blocking=False, coverage=report)


def test_coverage_under_the_floor_annotates_the_least_covered_files_first(
    project: Project,
) -> None:
    result = checks.judge_coverage(passed_tests_with_coverage(61.5), 80, project)
    assert (result.status, result.blocking, result.detail) == ("failed", True, "61.5% < floor 80%")
    assert [(a.file, a.line) for a in result.annotations] == [
        ("svc/app/b.py", 3),
        ("svc/app/a.py", 7),
    ]
    assert "lines 7-9, 12 never ran" in result.annotations[1].message


def test_coverage_at_or_over_the_floor_passes(project: Project) -> None:
    assert checks.judge_coverage(passed_tests_with_coverage(80.0), 80, project).status == "passed"


def test_coverage_without_a_floor_passes_and_reports_the_figure(project: Project) -> None:
    result = checks.judge_coverage(passed_tests_with_coverage(12.0), None, project)
    assert (result.status, result.detail) == ("passed", "12.0% (no floor set)")


def test_no_coverage_report_is_an_error(project: Project) -> None:
    tests = CheckResult(name="tests", status="failed", blocking=True)
    assert checks.judge_coverage(tests, 0, project).status == "error"


@pytest.mark.parametrize(
    ("codes", "combined"),
    [
        ([0, 0], 0),
        ([0, 1], 1),
        ([5, 0], 0),  # one shard without tests is fine when another ran some
        ([5, 5], 5),
        ([1, 2], 2),
        ([1, 4], 4),  # a usage error wins over failures: the run itself is broken
        ([0, None], None),
    ],
)
def test_shard_exit_codes_combine_into_one_pytest_verdict(
    codes: list[int | None], combined: int | None
) -> None:
    assert checks._combined_exit_code(codes) == combined


def test_test_files_are_dealt_into_shards_of_about_equal_size(tmp_path: Path) -> None:
    sizes = {"a.py": 900, "b.py": 500, "c.py": 400, "d.py": 100}
    for name, size in sizes.items():
        (tmp_path / name).write_text("#" * size)
    groups = checks.split_test_files([Path(name) for name in sizes], 2, tmp_path)
    assert groups == [[Path("a.py"), Path("d.py")], [Path("b.py"), Path("c.py")]]
    assert checks.split_test_files([Path("a.py")], 4, tmp_path) == [[Path("a.py")]]


def test_process_slots_bound_the_processes_and_serve_priority_first() -> None:
    slots = ProcessSlots(1)
    started: list[str] = []
    running = 0
    most_running = 0
    lock = threading.Lock()

    def work(name: str, priority: int) -> None:
        nonlocal running, most_running
        with slots.slot(priority):
            with lock:
                running += 1
                most_running = max(most_running, running)
                started.append(name)
            time.sleep(0.05)
            with lock:
                running -= 1

    with slots.slot(0):  # hold the only slot while the others queue up
        threads = [
            threading.Thread(target=work, args=(name, priority))
            for name, priority in (("quick", 5), ("slow", 0), ("middle", 2))
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    assert started == ["slow", "middle", "quick"]
    assert most_running == 1


def test_an_expected_check_holds_back_lower_priorities_until_it_asks() -> None:
    slots = ProcessSlots(2)
    slots.expect([0, 3])
    quick_started = threading.Event()

    def quick() -> None:
        with slots.slot(3):
            quick_started.set()

    thread = threading.Thread(target=quick)
    thread.start()
    # Two slots are free, but priority 0 (the tests) has not asked for its slots yet.
    assert not quick_started.wait(0.2)
    assert slots.acquire(0, count=5) == 2  # asks for more than there are: gets them all
    assert not quick_started.wait(0.1)
    slots.release()  # one shard ends: its CPU goes to the waiting check at once
    assert quick_started.wait(2)
    thread.join()
    slots.release()


def test_a_check_that_ends_without_asking_holds_nobody_back() -> None:
    slots = ProcessSlots(1)
    slots.expect([0])
    slots.forget(0)
    with slots.slot(4):
        pass


def test_a_check_that_raises_is_reported_as_its_error_and_the_others_still_run(
    project: Project, tmp_path: Path
) -> None:
    def explode(_context: GateContext) -> CheckResult:
        raise RuntimeError("boom")

    def fine(_context: GateContext) -> CheckResult:
        return CheckResult(name="ruff", status="passed", blocking=False)

    results = checks.run_checks(
        [checks.Check("mypy", explode), checks.Check("ruff", fine)], context_for(project, tmp_path)
    )
    assert [(r.name, r.status) for r in results] == [("mypy", "error"), ("ruff", "passed")]
    assert results[0].detail == "RuntimeError: boom"


def test_annotations_are_capped_per_check_and_interleaved() -> None:
    def result(name: str, count: int) -> CheckResult:
        return CheckResult(
            name=name,
            status="failed",
            blocking=True,
            annotations=[Annotation(level="error", message=f"{name} {i}") for i in range(count)],
        )

    capped = summary.capped_annotations([result("ruff", 30), result("mypy", 2)], per_check=3)
    assert [a.message for a in capped] == ["ruff 0", "mypy 0", "ruff 1", "mypy 1", "ruff 2"]


def test_summary_has_a_row_per_check_and_raw_output_in_details() -> None:
    results = [
        CheckResult(name="ruff", status="passed", blocking=False, duration_s=0.2, output="ok"),
        CheckResult(
            name="mypy",
            status="failed",
            blocking=True,
            findings=1,
            duration_s=3.0,
            detail="1 finding",
            annotations=[Annotation(level="error", message="bad | type", file="a.py", line=3)],
            output="a.py:3: error: ```bad```",
            command=["/venv/bin/python", "-m", "mypy", "app"],
        ),
    ]
    markdown = summary.render_markdown(results)
    assert markdown.startswith("### ❌ quality-gate: 1 of 2 checks failed: mypy")
    assert "| ruff | ✅ passed — no findings |" not in markdown  # no detail, no dash
    assert "| ruff | ✅ passed | 0 | 0.2s |" in markdown
    assert "| mypy | ❌ failed — 1 finding | 1 | 3.0s |" in markdown
    assert "- `a.py:3` bad | type" in markdown
    # Raw output only for what did not pass; it holds a ``` run, so its fence is longer.
    assert "ruff output" not in markdown
    assert "<details><summary>mypy output: <code>python -m mypy app</code>" in markdown
    assert "````text\na.py:3: error: ```bad```\n````" in markdown
