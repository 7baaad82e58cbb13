"""The gate's own logic around the tools: verdicts, coverage floor, audit, shards, slots."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from fastapi_ci.action_io import Annotation
from fastapi_ci.quality_gate import context as gate_context
from fastapi_ci.quality_gate import gate, locks, scheduler, summary
from fastapi_ci.quality_gate.checks import MYPY, RUFF, TESTS, Check, CheckResult
from fastapi_ci.quality_gate.checks.audit import AUDIT, judge_audit
from fastapi_ci.quality_gate.checks.coverage import judge_coverage
from fastapi_ci.quality_gate.checks.tests import pytest_command
from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.parsers import CoverageReport, FileCoverage
from fastapi_ci.quality_gate.project import Project
from fastapi_ci.quality_gate.runner import ProcessOwner, ToolRun, run_tool
from fastapi_ci.quality_gate.scheduler import ProcessSlots
from fastapi_ci.quality_gate.sharding import durations, split, suite

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


class StandIn(Check):
    """A check with a real one's properties (name, priority, ...) that runs `run` instead."""

    def __init__(self, real: Check, run: Callable[[GateContext], CheckResult]) -> None:
        self.name, self.priority, self.timeout_s = real.name, real.priority, real.timeout_s
        self.network_bound, self.critical_path = real.network_bound, real.critical_path
        self._run = run

    def run(self, context: GateContext) -> CheckResult:
        return self._run(context)


def audit_run(stdout: str = "", stderr: str = "", returncode: int | None = 0) -> ToolRun:
    return ToolRun(["pip-audit"], returncode, stdout, stderr, 1.0)


def requirements_target(project: Project) -> locks.AuditTarget:
    file = project.root / "requirements.txt"
    return locks.AuditTarget(["-r", str(file)], file, "requirements.txt")


def test_vulnerable_pin_fails_the_audit_on_its_requirements_line(
    project: Project, tmp_path: Path
) -> None:
    run = audit_run((RECORDINGS / "pip-audit-vulnerable.json").read_text(), returncode=1)
    result = judge_audit(context_for(project, tmp_path), requirements_target(project), run)
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
    result = judge_audit(context_for(project, tmp_path), requirements_target(project), run)
    assert (result.status, result.blocking) == ("unavailable", False)
    [warning] = result.annotations
    assert warning.level == "warning"
    assert "NOT checked" in warning.message


def test_unreachable_audit_closes_the_gate_when_required(project: Project, tmp_path: Path) -> None:
    run = audit_run((RECORDINGS / "pip-audit-pypi-unreachable.json").read_text())
    context = context_for(project, tmp_path, audit_required=True)
    result = judge_audit(context, requirements_target(project), run)
    assert (result.status, result.blocking) == ("unavailable", True)
    assert result.annotations[0].level == "error"
    assert summary.failed_check_names([result]) == ["audit"]


def test_pip_audit_crash_is_an_error_not_unavailable(project: Project, tmp_path: Path) -> None:
    run = audit_run(stderr="ERROR: invalid requirement", returncode=1)
    result = judge_audit(context_for(project, tmp_path), requirements_target(project), run)
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
    result = judge_coverage(passed_tests_with_coverage(61.5), 80, project)
    assert (result.status, result.blocking, result.detail) == ("failed", True, "61.5% < floor 80%")
    assert [(a.file, a.line) for a in result.annotations] == [
        ("svc/app/b.py", 3),
        ("svc/app/a.py", 7),
    ]
    assert "lines 7-9, 12 never ran" in result.annotations[1].message


def test_coverage_at_or_over_the_floor_passes(project: Project) -> None:
    assert judge_coverage(passed_tests_with_coverage(80.0), 80, project).status == "passed"


def test_coverage_without_a_floor_passes_and_reports_the_figure(project: Project) -> None:
    result = judge_coverage(passed_tests_with_coverage(12.0), None, project)
    assert (result.status, result.detail) == ("passed", "12.0% (no floor set)")


def test_no_coverage_report_is_an_error(project: Project) -> None:
    tests = CheckResult(name="tests", status="failed", blocking=True)
    assert judge_coverage(tests, 0, project).status == "error"


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
    assert suite.combined_exit_code(codes) == combined


def write_sized(root: Path, sizes: dict[str, int]) -> list[Path]:
    for name, size in sizes.items():
        (root / name).write_text("#" * size)
    return [Path(name) for name in sizes]


def test_without_durations_test_files_are_dealt_into_shards_of_about_equal_size(
    tmp_path: Path,
) -> None:
    files = write_sized(tmp_path, {"a.py": 900, "b.py": 500, "c.py": 400, "d.py": 100})
    costs = split.estimated_file_costs(files, tmp_path, {})
    assert costs == {Path("a.py"): 900, Path("b.py"): 500, Path("c.py"): 400, Path("d.py"): 100}
    groups = split.split_test_files(files, 2, costs)
    assert groups == [[Path("a.py"), Path("d.py")], [Path("b.py"), Path("c.py")]]
    assert split.split_test_files([Path("a.py")], 4, costs) == [[Path("a.py")]]


def test_with_the_last_runs_durations_shards_are_balanced_by_time_not_size(
    tmp_path: Path,
) -> None:
    # example-service, measured: by size, the items, config, health and pre-start files went
    # together (3.0 s of tests) and the four others (1.55 s) ended 1.5 s earlier.
    sizes = {"items.py": 5999, "logging.py": 4972, "migrations.py": 4862, "config.py": 3648}
    sizes |= {"health.py": 3284, "entrypoint.py": 2568, "main.py": 1855, "pre_start.py": 855}
    files = write_sized(tmp_path, sizes)
    seconds = {"items.py": 1.5, "logging.py": 0.2, "migrations.py": 0.95, "config.py": 0.04}
    seconds |= {"health.py": 0.5, "entrypoint.py": 0.3, "main.py": 0.1, "pre_start.py": 1.0}
    costs = split.estimated_file_costs(files, tmp_path, seconds)
    groups = split.split_test_files(files, 2, costs)
    loads = [sum(seconds[file.name] for file in group) for group in groups]
    assert abs(loads[0] - loads[1]) <= 0.1
    by_size = split.split_test_files(files, 2, split.estimated_file_costs(files, tmp_path, {}))
    size_loads = [sum(seconds[file.name] for file in group) for group in by_size]
    assert abs(size_loads[0] - size_loads[1]) > 1


def test_a_test_file_new_since_the_last_run_is_costed_by_its_size(tmp_path: Path) -> None:
    files = write_sized(tmp_path, {"old.py": 1000, "other.py": 3000, "new.py": 2000})
    costs = split.estimated_file_costs(files, tmp_path, {"old.py": 1.0, "other.py": 1.0})
    # 2.0 s over 4000 bytes known: the new file's 2000 bytes are worth 1.0 s.
    assert costs == {Path("old.py"): 1.0, Path("other.py"): 1.0, Path("new.py"): 1.0}


def test_test_durations_are_kept_per_project_for_the_next_split(
    project: Project, tmp_path: Path
) -> None:
    context = context_for(project, tmp_path, cache_dir=tmp_path / "cache")
    kept = durations.durations_file(context)
    assert kept is not None
    assert durations.load_test_durations(kept) == {}
    junit = tmp_path / "junit-0.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase file="tests/a.py" time="1.25"/>'
        '<testcase file="tests/a.py" time="0.5"/></testsuite></testsuites>'
    )
    seconds = durations.junit_file_seconds([junit, tmp_path / "junit-1.xml"])  # one not written
    durations.keep_test_durations(kept, seconds)
    assert durations.load_test_durations(kept) == {"tests/a.py": 1.75}
    # The next run: the mean with what was kept, so one slow run does not flip the split.
    durations.keep_test_durations(kept, {"tests/a.py": 0.25, "tests/b.py": 2.0})
    assert durations.load_test_durations(kept) == {"tests/a.py": 1.0, "tests/b.py": 2.0}
    other = context_for(Project(root=tmp_path / "x", display_path="x", python="python"), tmp_path)
    assert durations.durations_file(other) is None  # no cache dir: nothing kept
    kept.write_text("not json")
    assert durations.load_test_durations(kept) == {}


def test_a_shard_is_never_empty() -> None:
    # An empty one would be a pytest run without file arguments: the whole suite.
    files = [Path("a.py"), Path("b.py")]
    assert split.split_test_files(files, 2, {files[0]: 0.0, files[1]: 0.0}) == [
        [files[0]],
        [files[1]],
    ]
    assert split.split_test_files(files[:1], 3, {files[0]: 1.0}) == [[files[0]]]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/bin"},
            {"PYTHONPYCACHEPREFIX": "/cache/fastapi-ci/pycache", "PATH": "/bin"},
            id="bytecode-off-gets-a-private-cache",
        ),
        pytest.param({"PATH": "/bin"}, {"PATH": "/bin"}, id="bytecode-on-is-left-alone"),
        pytest.param(
            {"PYTHONDONTWRITEBYTECODE": "", "PATH": "/bin"},
            {"PYTHONDONTWRITEBYTECODE": "", "PATH": "/bin"},
            id="empty-means-unset",
        ),
        pytest.param(
            {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/mine"},
            {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/mine"},
            id="callers-own-prefix-is-kept",
        ),
    ],
)
def test_tools_keep_a_bytecode_cache_of_ours_when_python_would_keep_none(
    env: dict[str, str], expected: dict[str, str]
) -> None:
    assert gate_context.tool_environment(env, Path("/cache/fastapi-ci")) == expected
    assert gate_context.tool_environment(env, None) == env


def test_the_cache_is_under_xdg_cache_home_else_home() -> None:
    assert gate_context.cache_root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/fastapi-ci")
    assert gate_context.cache_root({"HOME": "/h"}) == Path("/h/.cache/fastapi-ci")
    assert gate_context.cache_root({}) is None


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


def test_the_last_shards_slot_goes_to_the_coverage_merge_not_to_a_waiting_check(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("test_a.py", "test_b.py"):
        (project.root / name).write_text("def test_x() -> None:\n    pass\n")
    context = context_for(project, tmp_path, test_shards=2)
    events: list[str] = []
    shard_ends = [threading.Event(), threading.Event()]
    mypy_may_end = threading.Event()

    def fake_run_tool(
        command: list[str],
        _context: GateContext,
        _owner: ProcessOwner,
        extra_env: dict[str, str] | None = None,
        slot_held: bool = False,
    ) -> ToolRun:
        if extra_env and "FASTAPI_CI_TEST_SHARD" in extra_env:
            shard = int(extra_env["FASTAPI_CI_TEST_SHARD"])
            assert shard_ends[shard].wait(5)
            events.append(f"shard {shard} ended")
        else:
            assert slot_held  # the merge never waits behind a quick check
            events.append("merge")
        return ToolRun(command, 0, "", "", 0.1)

    def mypy() -> None:
        with context.process_slots.slot(MYPY.priority):
            events.append("mypy started")
            assert mypy_may_end.wait(5)

    monkeypatch.setattr(suite, "run_tool", fake_run_tool)
    tests = threading.Thread(
        target=suite.run_suite, args=(context, TESTS, partial(pytest_command, context))
    )
    tests.start()
    time.sleep(0.1)  # the shards hold both slots
    waiting = threading.Thread(target=mypy)
    waiting.start()
    shard_ends[0].set()  # the first shard's CPU goes to mypy...
    time.sleep(0.1)
    shard_ends[1].set()  # ...the last one's to the merge, while mypy still runs
    tests.join(5)
    assert events == ["shard 0 ended", "mypy started", "shard 1 ended", "merge"]
    mypy_may_end.set()
    waiting.join(5)
    assert context.process_slots._free == 2  # every slot was given back


def niceness_of(process: subprocess.Popen[str]) -> int:
    return os.getpriority(os.PRIO_PROCESS, process.pid)


@pytest.fixture
def sleeper() -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Starts processes that just wait; stops them at the end."""
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def lowered(niceness: int) -> int:
    return min(19, niceness + scheduler.BesideTests.NICENESS)


needs_priority_back = pytest.mark.skipif(
    not scheduler.can_restore_priority(),
    reason="this user may not raise a priority back, so the gate lowers none",
)


@needs_priority_back
def test_processes_beside_the_tests_yield_the_cpu_to_them_until_they_are_done(
    sleeper: Callable[[], subprocess.Popen[str]],
) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    beside = scheduler.BesideTests()
    during, ended = sleeper(), sleeper()
    beside.started(during)
    beside.started(ended)
    assert niceness_of(during) == niceness_of(ended) == lowered(own)
    beside.ended(ended)
    beside.tests_done()
    assert niceness_of(during) == own
    assert niceness_of(ended) == lowered(own)  # it had ended: left alone
    after = sleeper()
    beside.started(after)
    assert niceness_of(after) == own


def test_a_spare_slot_is_granted_only_when_every_slot_is_taken_and_while_open() -> None:
    slots = ProcessSlots(1)
    with slots.slot(5, spare_ok=True) as spare:
        assert not spare  # a free slot first
    slots.open_spare(1)
    assert slots.acquire(0) == 1
    with slots.slot(5, spare_ok=True) as spare:
        assert spare
        granted = threading.Event()

        def second() -> None:
            with slots.slot(6, spare_ok=True):
                granted.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not granted.wait(0.1)  # the only spare slot is taken
    assert granted.wait(2)  # given back, granted again
    thread.join()
    slots.close_spare()
    closed = threading.Event()

    def after_close() -> None:
        with slots.slot(7, spare_ok=True):
            closed.set()

    thread = threading.Thread(target=after_close)
    thread.start()
    assert not closed.wait(0.1)  # closed: waits for a real slot
    slots.release()
    assert closed.wait(2)
    thread.join()


@needs_priority_back
def test_checks_beside_the_tests_run_at_low_priority_until_the_tests_are_done(
    project: Project, tmp_path: Path
) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    beside_done = threading.Barrier(3, timeout=10)
    seen: dict[str, int] = {}
    report_niceness = [sys.executable, "-c", "import os, time; time.sleep(0.3); print(os.nice(0))"]

    def beside(real: Check) -> Check:
        def run(context: GateContext) -> CheckResult:
            seen[real.name] = int(run_tool(report_niceness, context, real).stdout)
            beside_done.wait()
            return CheckResult(name=real.name, status="passed", blocking=False)

        return StandIn(real, run)

    def tests(context: GateContext) -> CheckResult:
        # Both slots taken, as the shards take them: mypy gets the spare one.
        assert context.process_slots.acquire(0, count=2) == 2
        beside_done.wait()
        context.process_slots.release(2)
        return CheckResult(name="tests", status="passed", blocking=False)

    checks = [StandIn(TESTS, tests), beside(MYPY), beside(AUDIT)]
    gate.run_checks(checks, context_for(project, tmp_path))
    assert seen == {"mypy": lowered(own), "audit": lowered(own)}
    # Without the tests, nothing is lowered.
    seen.clear()
    beside_done = threading.Barrier(1)
    gate.run_checks([beside(MYPY), beside(AUDIT)], context_for(project, tmp_path))
    assert seen == {"mypy": own, "audit": own}


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

    results = gate.run_checks(
        [StandIn(MYPY, explode), StandIn(RUFF, fine)], context_for(project, tmp_path)
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
