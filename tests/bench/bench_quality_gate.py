"""Benchmark: the quality gate vs the same checks run one after another.

    uv run python tests/bench/bench_quality_gate.py [--runs 5] [--audit/--no-audit]

Both ways run on a fresh copy of example-service with its own venv's interpreter, in the
same process, alternating run by run (so load from elsewhere on the machine hits both):

* gate: what `fastapi-ci quality-gate` does: checks concurrently, at most one tool
  process per CPU, the test files split over one pytest process per CPU;
* sequential: the naive way: the same check functions one at a time, one process at a
  time, one plain pytest run (no shards).

One untimed gate run first warms the caches both ways then share (mypy's .mypy_cache,
ruff's cache, pip-audit's HTTP cache, and the tools' Python bytecode, which the gate keeps
under ~/.cache/fastapi-ci when PYTHONDONTWRITEBYTECODE is set), as a CI cache would. It
also leaves the test files' durations the gate splits the next runs' tests by (only the
gate shards, so only the gate uses them). Prints each median and the ratio
gate/sequential (target: at most 0.6 on 2 CPUs).

The gate needs every CPU, so other work on the machine slows it more than the sequential
run: `--wait-quiet N` waits (up to N seconds) before each run until the CPUs are idle.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi_ci.quality_gate import QualityGateInputs, finish_results, prepare_gate
from fastapi_ci.quality_gate.checks import CheckResult
from fastapi_ci.quality_gate.gate import run_checks

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SERVICE = REPO_ROOT / "example-service"
COPY_IGNORE = shutil.ignore_patterns(".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache")


def run_gate(inputs: QualityGateInputs, work: Path, processes: int) -> list[CheckResult]:
    """The gate's own path: concurrent checks, one tool process per CPU, sharded tests."""
    context, checks = prepare_gate(inputs, os.environ, work, processes)
    return finish_results(inputs, context.project, run_checks(checks, context))


def run_sequential(inputs: QualityGateInputs, work: Path) -> list[CheckResult]:
    """The same checks one after another: one process at a time, one pytest run."""
    one_pytest = inputs.model_copy(update={"test_shards": 1})
    context, checks = prepare_gate(one_pytest, os.environ, work, processes=1)
    return finish_results(inputs, context.project, [check.run(context) for check in checks])


def children_cpu_seconds() -> float:
    """CPU time (user + system) of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[Path], list[CheckResult]]) -> tuple[float, float, list[CheckResult]]:
    """Wall time and the tools' CPU time of one run, in a fresh temp dir for its reports."""
    with tempfile.TemporaryDirectory(prefix="bench-quality-gate-") as work:
        cpu_before = children_cpu_seconds()
        started = time.perf_counter()
        results = run(Path(work))
        wall = time.perf_counter() - started
        return wall, children_cpu_seconds() - cpu_before, results


def cpu_busy(seconds: float = 1.0) -> float | None:
    """The share of CPU time used on the whole machine over `seconds` (Linux; else None)."""

    def sample() -> tuple[int, int] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return None
        ticks = [int(field) for field in fields]
        return sum(ticks), ticks[3] + ticks[4]  # total, idle + iowait

    before = sample()
    time.sleep(seconds)
    after = sample()
    if before is None or after is None or after[0] == before[0]:
        return None
    return 1 - (after[1] - before[1]) / (after[0] - before[0])


def wait_until_quiet(limit: float, busy_at_most: float = 0.1) -> float | None:
    """Wait (up to `limit` seconds) until other work uses at most `busy_at_most` of the
    CPUs; return the last share measured."""
    deadline = time.monotonic() + limit
    busy = cpu_busy()
    while busy is not None and busy > busy_at_most and time.monotonic() < deadline:
        busy = cpu_busy(2.0)
    return busy


def describe(results: list[CheckResult]) -> str:
    """`ruff=passed 0.1s, ...` for one run."""
    return ", ".join(
        f"{result.name}={result.status} {result.duration_s:.1f}s"
        for result in results
        if result.status != "skipped" and result.name != "coverage"
    )


def main() -> int:
    """Run both ways `--runs` times each and print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--audit", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for the CPUs to be idle (<10%% busy)",
    )
    arguments = parser.parse_args()
    python = EXAMPLE_SERVICE / ".venv" / "bin" / "python"
    if not python.exists():
        print(f"no {python}: create the example's venv first (see tests/conftest.py)")
        return 2
    processes = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-example-") as copy_root:
        project = Path(copy_root) / "example-service"
        shutil.copytree(EXAMPLE_SERVICE, project, ignore=COPY_IGNORE)
        inputs = QualityGateInputs(path=str(project), python=str(python), audit=arguments.audit)
        warm_time, _, warm = timed(lambda work: run_gate(inputs, work, processes))
        print(f"warm-up gate (cold caches): {warm_time:.1f}s  [{describe(warm)}]")
        gate_times: list[float] = []
        sequential_times: list[float] = []
        for index in range(arguments.runs):
            # Load from other processes slows the concurrent gate most: it needs every CPU.
            busy = wait_until_quiet(arguments.wait_quiet) if arguments.wait_quiet else None
            load = os.getloadavg()[0]
            gate_time, gate_cpu, gate = timed(lambda work: run_gate(inputs, work, processes))
            if arguments.wait_quiet:
                wait_until_quiet(arguments.wait_quiet)
            sequential_time, sequential_cpu, sequential = timed(
                lambda work: run_sequential(inputs, work)
            )
            gate_times.append(gate_time)
            sequential_times.append(sequential_time)
            idle = f", CPUs {busy:.0%} busy before" if busy is not None else ""
            print(f"run {index + 1} (load {load:.1f}{idle}):")
            print(f"  gate       {gate_time:5.1f}s  cpu {gate_cpu:5.1f}s  [{describe(gate)}]")
            print(
                f"  sequential {sequential_time:5.1f}s  cpu {sequential_cpu:5.1f}s  "
                f"[{describe(sequential)}]"
            )
    gate_median = statistics.median(gate_times)
    sequential_median = statistics.median(sequential_times)
    print(f"CPUs: {processes}; runs: {arguments.runs}; audit: {arguments.audit}")
    print(
        f"gate       median {gate_median:.2f}s  (runs: {', '.join(f'{t:.1f}' for t in gate_times)})"
    )
    print(
        f"sequential median {sequential_median:.2f}s  "
        f"(runs: {', '.join(f'{t:.1f}' for t in sequential_times)})"
    )
    print(f"ratio gate/sequential: {gate_median / sequential_median:.2f}x (target <= 0.60x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
