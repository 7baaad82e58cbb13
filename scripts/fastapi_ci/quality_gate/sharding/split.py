"""How the test files are dealt into shards that end together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def estimated_file_costs(
    files: Sequence[Path], root: Path, durations: Mapping[str, float]
) -> dict[Path, float]:
    """What each test file is expected to cost: its seconds in the last run; a file that did
    not run then, by its size at the known files' seconds per byte. With no durations at
    all, sizes alone (bytes stand in for time)."""
    sizes = {file: (root / file).stat().st_size for file in files}
    known = {file: durations[file.as_posix()] for file in files if file.as_posix() in durations}
    known_bytes = sum(sizes[file] for file in known)
    if not known or known_bytes == 0:
        return {file: float(size) for file, size in sizes.items()}
    per_byte = sum(known.values()) / known_bytes
    return {file: known.get(file, sizes[file] * per_byte) for file in files}


def split_test_files(
    files: Sequence[Path], shards: int, weights: Mapping[Path, float]
) -> list[list[Path]]:
    """Deal test files into `shards` groups of about equal weight (heaviest first, each to
    the lightest group), so the pytest processes end together."""
    groups: list[list[Path]] = [[] for _ in range(min(shards, len(files)))]
    loads = [0.0] * len(groups)
    for file in sorted(files, key=lambda file: (-weights[file], file)):
        lightest = min(range(len(groups)), key=lambda index: (loads[index], len(groups[index])))
        groups[lightest].append(file)
        loads[lightest] += weights[file]
    # Never an empty group: its pytest run, without file arguments, would run everything.
    return [sorted(group) for group in groups if group]
