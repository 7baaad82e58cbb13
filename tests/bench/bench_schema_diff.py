"""Benchmark of the schema-guard diff engine against a plain DeepDiff, on real OpenAPI pairs.

For each `<name>.base.json` / `<name>.revision.json` pair in the bench directory (default:
`../shared/bench/openapi/` next to the repository), this measures N runs (default 5) of

* ours: `load_document` of both files + `diff_documents` + building the `DiffReport`;
* naive: `json.load` of both files + `DeepDiff(base, revision)`;

and prints the median time of each, the ratio, and the peak memory, then PASS/MISS for each
target of issue #3 (median under 0.6 s, at least 5x faster than DeepDiff, peak under 400 MB).

Memory method: every single run happens in a fresh Python subprocess that reports its own
peak resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) after the run, so runs
and approaches cannot inflate each other. The figure is the whole process (interpreter and
imports included, about 60 MB here), an upper bound on what the diff itself needs. Times
are measured inside the subprocess around the work only (imports excluded), with
`time.perf_counter`.

Usage: uv run python tests/bench/bench_schema_diff.py [--bench-dir DIR] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BENCH_DIR = Path(__file__).resolve().parents[3] / "shared" / "bench" / "openapi"
TARGET_SECONDS = 0.6
TARGET_SPEEDUP = 5.0
TARGET_PEAK_MB = 400.0
APPROACHES = ("ours", "deepdiff")


@dataclass(frozen=True)
class Run:
    """One measured run, as reported by its subprocess."""

    seconds: float
    peak_mb: float
    changes: int


def run_once(approach: str, base: Path, revision: Path) -> Run:
    """Run one approach once in this process (called inside a fresh subprocess)."""
    if approach == "ours":
        from fastapi_ci.schema_guard.diff import diff_documents
        from fastapi_ci.schema_guard.document import load_document
        from fastapi_ci.schema_guard.report import DiffReport

        start = time.perf_counter()
        report = DiffReport.from_changes(
            diff_documents(
                load_document(base, input_name="base"),
                load_document(revision, input_name="revision"),
            )
        )
        seconds = time.perf_counter() - start
        changes = len(report.changes)
    else:
        from deepdiff import DeepDiff

        start = time.perf_counter()
        with base.open(encoding="utf-8") as base_file, revision.open(encoding="utf-8") as rev_file:
            difference = DeepDiff(json.load(base_file), json.load(rev_file))
        seconds = time.perf_counter() - start
        changes = sum(len(items) for items in difference.values())
    # ru_maxrss is in KiB on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Run(seconds=seconds, peak_mb=peak_mb, changes=changes)


def measure(approach: str, base: Path, revision: Path) -> Run:
    """Run one approach once in a fresh subprocess and read back its figures."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", approach, str(base), str(revision)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return Run(**figures)


def pairs(bench_dir: Path) -> list[tuple[str, Path, Path]]:
    """The (name, base, revision) pairs found in the bench directory."""
    found = []
    for base in sorted(bench_dir.glob("*.base.json")):
        name = base.name.removesuffix(".base.json")
        revision = bench_dir / f"{name}.revision.json"
        if revision.exists():
            found.append((name, base, revision))
    return found


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def benchmark(bench_dir: Path, runs: int) -> None:
    """Measure every pair and print the figures and the targets met or missed."""
    found = pairs(bench_dir)
    if not found:
        print(f"no <name>.base.json / <name>.revision.json pairs in {bench_dir}")
        return
    print(f"{runs} runs per approach, each in a fresh subprocess; medians; peak = max RSS\n")
    for name, base, revision in found:
        results: dict[str, list[Run]] = {approach: [] for approach in APPROACHES}
        for _ in range(runs):
            for approach in APPROACHES:  # interleaved, so that machine load hits both alike
                results[approach].append(measure(approach, base, revision))
        ours = statistics.median(run.seconds for run in results["ours"])
        naive = statistics.median(run.seconds for run in results["deepdiff"])
        ours_peak = max(run.peak_mb for run in results["ours"])
        naive_peak = max(run.peak_mb for run in results["deepdiff"])
        speedup = naive / ours
        size_mb = (base.stat().st_size + revision.stat().st_size) / 1e6
        print(f"{name} ({size_mb:.1f} MB for both files)")
        print(
            f"  ours:     median {ours:.3f} s  peak {ours_peak:.0f} MB  "
            f"({results['ours'][0].changes} classified changes)"
        )
        print(
            f"  DeepDiff: median {naive:.3f} s  peak {naive_peak:.0f} MB  "
            f"({results['deepdiff'][0].changes} raw differences)"
        )
        print(f"  ratio:    {speedup:.1f}x faster")
        print(f"  target median < {TARGET_SECONDS} s:    {verdict(ours < TARGET_SECONDS)}")
        print(
            f"  target >= {TARGET_SPEEDUP:.0f}x DeepDiff:     {verdict(speedup >= TARGET_SPEEDUP)}"
        )
        print(f"  target peak < {TARGET_PEAK_MB:.0f} MB:   {verdict(ours_peak < TARGET_PEAK_MB)}")
        print()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the benchmark, or (with --child) one measured run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH_DIR)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=APPROACHES, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run = run_once(args.child, *args.files)
        print(json.dumps({"seconds": run.seconds, "peak_mb": run.peak_mb, "changes": run.changes}))
        return 0
    benchmark(args.bench_dir, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
