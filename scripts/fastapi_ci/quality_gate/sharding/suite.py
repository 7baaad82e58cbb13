"""The test suite's run: one plain pytest run, or shards, a re-run and a coverage merge.

Why shards: pytest is the longest check by far, so without splitting it the gate can
never be much faster than pytest alone. Each shard is one process over whole files
(like pytest-xdist's --dist loadfile), with its own JUnit file and coverage data file;
`FASTAPI_CI_TEST_SHARD` tells a suite which shard it is, as PYTEST_XDIST_WORKER does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fastapi_ci.quality_gate.context import GateContext
from fastapi_ci.quality_gate.runner import ProcessOwner, ToolRun, run_tool
from fastapi_ci.quality_gate.scheduler import ProcessSlots
from fastapi_ci.quality_gate.sharding import rerun as shard_rerun
from fastapi_ci.quality_gate.sharding.durations import durations_file, load_test_durations
from fastapi_ci.quality_gate.sharding.split import estimated_file_costs, split_test_files

# pytest's exit codes: 1 tests failed, 2 interrupted (e.g. collection errors), 5 no tests.
PYTEST_FAILED, PYTEST_INTERRUPTED, PYTEST_NO_TESTS = 1, 2, 5

PytestCommand = Callable[[Sequence[Path | str], Path, Path | None], list[str]]
"""pytest on these test files (none: what the project's config collects), writing this
JUnit file and, when one is given, this coverage.json."""


def combined_exit_code(codes: Sequence[int | None]) -> int | None:
    """One pytest exit code for all shards: a timeout, a crash, failures, in that order.
    A shard that found no tests is fine as long as another one ran some."""
    finished = [code for code in codes if code is not None]
    if len(finished) < len(codes):
        return None
    known = (0, PYTEST_FAILED, PYTEST_INTERRUPTED, PYTEST_NO_TESTS)
    odd = [code for code in finished if code not in known]
    if odd:
        return odd[0]
    if all(code == PYTEST_NO_TESTS for code in finished):
        return PYTEST_NO_TESTS
    return max(code for code in finished if code != PYTEST_NO_TESTS)


# Merge the shards' coverage data and write coverage.json in one interpreter start (the
# `coverage combine` and `coverage json` commands would be two).
_COMBINE_COVERAGE = """
import sys, coverage
data_file, json_file, *shard_files = sys.argv[1:]
merged = coverage.Coverage(data_file=data_file)
merged.combine(shard_files)
merged.save()
merged.json_report(outfile=json_file)
"""


@dataclass(frozen=True)
class SuiteRun:
    """The test suite's run: one `ToolRun` standing for all its pytest processes."""

    run: ToolRun
    failure_reports: list[Path]
    """The JUnit files whose failures are the verdict (the re-run's, after one)."""
    duration_reports: list[Path]
    """The JUnit files of the shards (or the one run): the test files' seconds."""
    coverage_json: Path
    only_when_sharded: list[str] = field(default_factory=list)
    """Tests that failed in the shards and passed re-run in one process."""
    shards: int = 1


def run_suite(context: GateContext, owner: ProcessOwner, pytest_command: PytestCommand) -> SuiteRun:
    """Run the suite as `test_shards` pytest processes (or one plain run); re-run in one
    process what failed in the shards (`rerun`)."""
    work = context.work_dir
    files = context.project.test_files() if context.test_shards > 1 else []
    costs = estimated_file_costs(
        files, context.project.root, load_test_durations(durations_file(context))
    )
    groups = split_test_files(files, context.test_shards, costs)
    if len(groups) >= 2:
        return _run_shards(context, owner, pytest_command, groups)
    junit, coverage_json = work / "junit.xml", work / "coverage.json"
    run = run_tool(
        pytest_command([], junit, coverage_json),
        context,
        owner,
        # Coverage data goes to our temp dir, not into the user's checkout.
        {"COVERAGE_FILE": str(work / ".coverage")},
    )
    return SuiteRun(run, [junit], [junit], coverage_json)


class _ShardSlots:
    """The process slots the shards hold. Each shard frees its CPU as it ends, for the
    checks still waiting; all but the last slot, which goes straight to the re-run, if any,
    and to merging the coverage. That merge is the gate's last step: a quick check taking
    its slot first would delay the gate."""

    def __init__(self, slots: ProcessSlots, priority: int, shards: int) -> None:
        self._slots = slots
        # The shards start together (a shard that waited for a slot would end last); with
        # more shards than CPUs (the `test-shards` input) the extra ones run on top.
        self._to_release = slots.acquire(priority, count=shards) - 1
        self._releasing = threading.Lock()

    def shard_ended(self) -> None:
        """Give back the shard's slot, unless it is the last one held."""
        with self._releasing:
            release = self._to_release > 0
            self._to_release -= int(release)
        if release:
            self._slots.release()

    def release_last(self) -> None:
        """Give back the last slot, once the suite is done."""
        self._slots.release()


@dataclass(frozen=True)
class _Rerun:
    """The single-process re-run of what failed in the shards."""

    run: ToolRun
    tests: list[str]
    """The node ids re-run: those that failed in the shards."""
    report: Path


def _run_shards(
    context: GateContext,
    owner: ProcessOwner,
    pytest_command: PytestCommand,
    groups: Sequence[Sequence[Path]],
) -> SuiteRun:
    """One pytest process per group of test files, then the re-run and the coverage merge,
    all in the slots the shards took."""
    work = context.work_dir
    started = time.monotonic()
    shard_reports = [work / f"junit-{index}.xml" for index in range(len(groups))]
    coverage_data = [work / f".coverage.{index}" for index in range(len(groups))]
    slots = _ShardSlots(context.process_slots, owner.priority, len(groups))

    def run_shard(index: int) -> ToolRun:
        try:
            return run_tool(
                pytest_command(groups[index], shard_reports[index], None),
                context,
                owner,
                {
                    "COVERAGE_FILE": str(coverage_data[index]),
                    "FASTAPI_CI_TEST_SHARD": str(index),
                },
                slot_held=True,
            )
        finally:
            slots.shard_ended()

    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            runs = list(pool.map(run_shard, range(len(groups))))
        returncode = combined_exit_code([run.returncode for run in runs])
        failed = shard_rerun.failed_tests(shard_reports) if returncode == PYTEST_FAILED else []
        rerun = _rerun_in_one_process(context, owner, pytest_command, failed) if failed else None
        if rerun is not None:
            coverage_data.append(work / ".coverage.rerun")
        merge = _merge_coverage(context, owner, coverage_data)
    finally:
        slots.release_last()
    outputs = [
        f"── shard {index + 1}/{len(groups)}: {len(groups[index])} test files\n{run.output}"
        for index, run in enumerate(runs)
    ]
    failure_reports, only_when_sharded = shard_reports, []
    if rerun is not None:
        outputs.append(
            f"── re-run in one process: the {len(rerun.tests)} tests that failed in the "
            f"shards\n{rerun.run.output}"
        )
        returncode, failure_reports = rerun.run.returncode, [rerun.report]
        still_failing = set(shard_rerun.failed_tests(failure_reports))
        only_when_sharded = [test for test in rerun.tests if test not in still_failing]
    combined = ToolRun(
        command=[*runs[0].command[: -len(groups[0])], f"<{len(groups)} shards of test files>"],
        returncode=returncode,
        stdout="\n".join(outputs),
        stderr="" if merge.returncode == 0 else merge.output,
        duration_s=time.monotonic() - started,
    )
    return SuiteRun(
        combined,
        failure_reports,
        shard_reports,
        work / "coverage.json",
        only_when_sharded,
        len(groups),
    )


def _rerun_in_one_process(
    context: GateContext, owner: ProcessOwner, pytest_command: PytestCommand, tests: list[str]
) -> _Rerun | None:
    """Re-run the tests that failed in the shards, in one process (in the slot the shards
    kept). None when the re-run could not run the tests (a usage error: node ids pytest does
    not take from this directory): it says nothing, and the shards' verdict stands."""
    report = context.work_dir / "junit-rerun.xml"
    run = run_tool(
        pytest_command(tests, report, None),
        context,
        owner,
        {"COVERAGE_FILE": str(context.work_dir / ".coverage.rerun")},
        slot_held=True,
    )
    if run.returncode not in (0, PYTEST_FAILED):
        return None
    return _Rerun(run, tests, report)


def _merge_coverage(
    context: GateContext, owner: ProcessOwner, coverage_data: Sequence[Path]
) -> ToolRun:
    """Combine the processes' coverage data into one, and write coverage.json from it."""
    work = context.work_dir
    return run_tool(
        [
            context.project.python,
            "-c",
            _COMBINE_COVERAGE,
            str(work / ".coverage"),
            str(work / "coverage.json"),
            *(str(data) for data in coverage_data),
        ],
        context,
        owner,
        slot_held=True,
    )
