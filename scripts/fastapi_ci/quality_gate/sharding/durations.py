"""The test files' durations of the project's last runs: the cache the shards are split by."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from fastapi_ci.quality_gate import parsers
from fastapi_ci.quality_gate.context import GateContext


def durations_file(context: GateContext) -> Path | None:
    """Where the test files' durations of the project's last runs are kept (per root)."""
    if context.cache_dir is None:
        return None
    key = hashlib.sha256(str(context.project.root.resolve()).encode()).hexdigest()[:16]
    return context.cache_dir / "test-durations" / f"{key}.json"


def load_test_durations(file: Path | None) -> dict[str, float]:
    """Seconds per test file kept by `keep_test_durations`; {} when none (or unreadable)."""
    if file is None:
        return {}
    try:
        kept = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict):
        return {}
    return {
        str(name): float(seconds)
        for name, seconds in kept.items()
        if isinstance(seconds, int | float) and seconds >= 0
    }


def keep_test_durations(file: Path | None, seconds: Mapping[str, float]) -> None:
    """Keep this run's seconds per test file for the next split: the mean of this run's
    figure and the one kept before, so that one run slowed down by other work on the
    machine does not turn the next split upside down.
    A cache: failing to read or write it is never the gate's problem."""
    if file is None or not seconds:
        return
    before = load_test_durations(file)
    kept = before | {
        name: (took + before[name]) / 2 if name in before else took
        for name, took in seconds.items()
    }
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: a gate running at the same time reads old or new.
        partial = file.with_name(f"{file.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
        partial.replace(file)
    except OSError:
        return


def junit_file_seconds(junit_files: Sequence[Path]) -> dict[str, float]:
    """Seconds per test file in this run's JUnit reports (those that could be read)."""
    seconds: dict[str, float] = {}
    for junit in junit_files:
        try:
            seconds.update(parsers.parse_junit_file_seconds(junit.read_text(encoding="utf-8")))
        except (OSError, parsers.ToolOutputError):
            continue
    return seconds
