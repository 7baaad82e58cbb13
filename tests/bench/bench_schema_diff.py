"""Benchmark of schema-guard's diff against the real oasdiff and a plain DeepDiff.

For each `<name>.base.json` / `<name>.revision.json` pair in the bench directory (default:
`../shared/bench/openapi/` beside the repository), N runs (default 5) of each approach, each
in a fresh process, interleaved so that machine load hits all alike:

* ours: `fastapi-ci schema-diff BASE REVISION --format json` (the CLI, end to end);
* oasdiff: `oasdiff breaking BASE REVISION --format json` (FASTAPI_CI_OASDIFF, built by
  .ci/oasdiff.sh; left out with a note when it is missing);
* DeepDiff: a Python process that `json.load`s both files and runs `DeepDiff(base, revision)`.

Figures: the median wall time of the whole process and its peak resident set size (both from
`os.wait4` on the child, so interpreter start-up and imports count for the Python ones as
Go's start-up does for oasdiff).

Then the scaling of ours on the first pair (Stripe): documents with the paths and components
copied 1x, 8x and 16x (renamed, refs rewritten), written to a temporary directory; the
median CPU seconds (user + sys) of the load + diff + report inside the process, and the
ratio to 1x over the copy factor (1.00 is linear).

Usage: uv run python tests/bench/bench_schema_diff.py [--bench-dir DIR] [--runs N]
       [--scales 1,8,16] [--no-scaling]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BENCH_DIR = Path(__file__).resolve().parents[3] / "shared" / "bench" / "openapi"
FASTAPI_CI = Path(sys.executable).with_name("fastapi-ci")
APPROACHES = ("ours", "oasdiff", "deepdiff")


@dataclass(frozen=True)
class Run:
    """One measured process: wall seconds, CPU seconds, peak RSS."""

    seconds: float
    cpu_seconds: float
    peak_mb: float


def measure(command: list[str]) -> Run:
    """Run a command to completion (output discarded) and read its time and peak memory."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: breaking changes found
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{command[0]} exited {code}: {error[-500:]}")
    # ru_maxrss is in KiB on Linux.
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def command_for(approach: str, base: Path, revision: Path, oasdiff: str) -> list[str]:
    """The process one approach runs on a pair."""
    if approach == "ours":
        return [str(FASTAPI_CI), "schema-diff", str(base), str(revision), "--format", "json"]
    if approach == "oasdiff":
        return [oasdiff, "breaking", str(base), str(revision), "--format", "json"]
    return [sys.executable, __file__, "--deepdiff", str(base), str(revision)]


def deepdiff_once(base: Path, revision: Path) -> None:
    """The naive way: load both files and DeepDiff them (run inside a child process)."""
    from deepdiff import DeepDiff

    with base.open(encoding="utf-8") as base_file, revision.open(encoding="utf-8") as rev_file:
        DeepDiff(json.load(base_file), json.load(rev_file))


def ours_in_process(base: Path, revision: Path) -> None:
    """Load + diff + report, timed in CPU seconds inside this (child) process."""
    from fastapi_ci.schema_guard import compare_documents, garbage_collection_paused

    start = time.process_time()
    with garbage_collection_paused():  # as `fastapi-ci schema-diff` runs it
        # json.loads, not load_document: 16x Stripe is past the input-file size limit
        # (32 MiB) that the CLI keeps for hostile inputs; the engine is what scales here.
        compare_documents(
            json.loads(base.read_bytes()),
            json.loads(revision.read_bytes()),
            inputs=("base", "revision"),
            semantics="auto",
        )
    print(json.dumps({"cpu_seconds": time.process_time() - start}))


def pairs(bench_dir: Path) -> list[tuple[str, Path, Path]]:
    """The (name, base, revision) pairs found in the bench directory."""
    found = []
    for base in sorted(bench_dir.glob("*.base.json"), key=lambda p: p.name != "stripe.base.json"):
        name = base.name.removesuffix(".base.json")
        revision = bench_dir / f"{name}.revision.json"
        if revision.exists():
            found.append((name, base, revision))
    return found


def compare_approaches(found: list[tuple[str, Path, Path]], runs: int, oasdiff: str | None) -> None:
    """Median wall time and peak memory of each approach on each pair, side by side."""
    approaches = [a for a in APPROACHES if a != "oasdiff" or oasdiff]
    if not oasdiff:
        print("oasdiff: not measured (FASTAPI_CI_OASDIFF unset or missing; run .ci/oasdiff.sh)")
    print(f"{runs} runs per approach, each a fresh process; median wall time; peak = max RSS\n")
    print(f"{'pair':<8} {'approach':<9} {'median s':>9} {'CPU s':>7} {'peak MB':>8} {'vs ours':>8}")
    for name, base, revision in found:
        results: dict[str, list[Run]] = {approach: [] for approach in approaches}
        for _ in range(runs):
            for approach in approaches:
                command = command_for(approach, base, revision, oasdiff or "")
                results[approach].append(measure(command))
        ours = statistics.median(r.seconds for r in results["ours"])
        for approach in approaches:
            median = statistics.median(r.seconds for r in results[approach])
            cpu = statistics.median(r.cpu_seconds for r in results[approach])
            peak = max(r.peak_mb for r in results[approach])
            print(
                f"{name:<8} {approach:<9} {median:9.2f} {cpu:7.2f} {peak:8.0f} "
                f"{median / ours:7.1f}x"
            )
        if oasdiff:
            theirs = statistics.median(r.seconds for r in results["oasdiff"])
            met = "PASS" if ours <= theirs else "MISS"
            print(f"{name:<8} target: ours at most oasdiff's wall time: {met}")
        print()


def scaled_copy(document: dict[str, Any], factor: int) -> dict[str, Any]:
    """The document with its paths and components copied `factor` times under new names."""
    if factor == 1:
        return document
    text = json.dumps({"paths": document["paths"], "components": document.get("components", {})})
    ref = re.compile(r'"#/components/(\w+)/')
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    for copy in range(factor):
        renamed = json.loads(ref.sub(rf'"#/components/\1/c{copy}_', text))
        paths.update({f"/c{copy}{path}": item for path, item in renamed["paths"].items()})
        for kind, entries in renamed["components"].items():
            if isinstance(entries, dict):
                target = components.setdefault(kind, {})
                target.update({f"c{copy}_{name}": value for name, value in entries.items()})
    return {**document, "paths": paths, "components": components}


def scaling(name: str, base: Path, revision: Path, scales: list[int], runs: int) -> None:
    """CPU seconds of ours at each copy factor, and the ratio to linear."""
    print(f"scaling of ours on {name}: median CPU seconds of load + diff + report in-process")
    base_document = json.loads(base.read_text(encoding="utf-8"))
    revision_document = json.loads(revision.read_text(encoding="utf-8"))
    one: float | None = None
    with tempfile.TemporaryDirectory(prefix="bench-schema-diff-") as scratch:
        for factor in scales:
            scaled = []
            for label, document in (("base", base_document), ("revision", revision_document)):
                path = Path(scratch) / f"{name}.{factor}x.{label}.json"
                path.write_text(json.dumps(scaled_copy(document, factor)), encoding="utf-8")
                scaled.append(path)
            cpu = []
            for _ in range(runs):
                completed = subprocess.run(
                    [sys.executable, __file__, "--ours-in-process", *map(str, scaled)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                cpu.append(json.loads(completed.stdout.strip().splitlines()[-1])["cpu_seconds"])
            median = statistics.median(cpu)
            one = one if one is not None else median / factor
            size = sum(p.stat().st_size for p in scaled) / 1e6
            print(
                f"  {factor:>2}x ({size:6.0f} MB): {median:6.2f} s CPU, "
                f"{median / (one * factor):.2f} of linear"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the benchmark, or (in a child) one measured run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH_DIR)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scales", default="1,8,16")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--no-approaches", action="store_true")
    parser.add_argument("--deepdiff", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ours-in-process", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.deepdiff:
        deepdiff_once(*args.deepdiff)
        return 0
    if args.ours_in_process:
        ours_in_process(*args.ours_in_process)
        return 0
    found = pairs(args.bench_dir)
    if not found:
        print(f"no <name>.base.json / <name>.revision.json pairs in {args.bench_dir}")
        return 1
    oasdiff = os.environ.get("FASTAPI_CI_OASDIFF")
    if not args.no_approaches:
        compare_approaches(
            found, args.runs, oasdiff if oasdiff and Path(oasdiff).is_file() else None
        )
    if not args.no_scaling:
        scales = [int(x) for x in args.scales.split(",")]
        scaling(*found[0], scales, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
