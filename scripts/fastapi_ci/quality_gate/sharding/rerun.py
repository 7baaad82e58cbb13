"""Sharding never turns a green suite red: what failed in shards is re-run in one process.

The gate splits the suite over several pytest processes by default. Most suites do not
care; some share state across processes without saying so (one database their fixtures
seed with the same row, a file at a fixed path) and fail when two processes run at once,
although every test passes in one process. When a sharded run has failures, the gate
re-runs exactly the tests that failed, in one process (after all shards ended, so nothing
else runs beside them): a test that passes then failed only because of the sharding. The
verdict is the re-run's; the report says the suite is not shard-safe, and which input
stops the sharding, so the next run does not pay for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from fastapi_ci.action_io import Annotation

# Test ids listed in the warning: enough to recognise the shared state.
LISTED_TESTS = 5


def failed_node_ids(xml_text: str) -> list[str]:
    """pytest node ids (`tests/test_x.py::TestY::test_z[1]`) of the failed and erroring test
    cases of a JUnit report written with junit_family=xunit1 (which names each test's file).
    A case without a file (a collection error) has no node id to re-run: none is returned."""
    try:
        root = ElementTree.fromstring(xml_text)  # noqa: S314 - trusted, see the import
    except ElementTree.ParseError:
        return []
    node_ids: list[str] = []
    for case in root.iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        file, name = case.get("file"), case.get("name")
        if not file or not name:
            continue
        # classname is the module's dotted path, then the classes: keep the classes.
        parts = (case.get("classname") or "").split(".")
        module = PurePosixPath(file).stem
        classes = parts[len(parts) - parts[::-1].index(module) :] if module in parts else []
        node_id = "::".join([file, *classes, name])
        if node_id not in node_ids:  # a test failing in its call and its teardown
            node_ids.append(node_id)
    return node_ids


def failed_tests(junit_files: Sequence[Path]) -> list[str]:
    """The node ids of every test that failed in any of the reports (those that exist)."""
    failed: list[str] = []
    for junit in junit_files:
        if junit.is_file():
            failed += failed_node_ids(junit.read_text(encoding="utf-8"))
    return failed


def not_shard_safe(only_when_sharded: Sequence[str], shards: int) -> tuple[str, Annotation]:
    """The detail line and the warning for tests that failed in shards but not alone."""
    count = len(only_when_sharded)
    tests = f"{count} test{'s' if count != 1 else ''}"
    listed = ", ".join(only_when_sharded[:LISTED_TESTS]) + (
        f" and {count - LISTED_TESTS} more" if count > LISTED_TESTS else ""
    )
    detail = (
        f"the suite is not shard-safe: {tests} failed in {shards} parallel pytest processes "
        "and passed re-run in one (set test-shards: 1)"
    )
    warning = Annotation(
        level="warning",
        title="tests are not shard-safe",
        message=(
            f"{tests} failed when the suite ran in {shards} parallel pytest processes and "
            f"passed when re-run in one process: {listed}. They share state across "
            "processes (one database, a file at a fixed path). Set the input "
            "`test-shards: 1` (`--test-shards 1`) to run the suite in one process and skip "
            "the re-run, or give each process its own state (FASTAPI_CI_TEST_SHARD names "
            "the shard)."
        ),
    )
    return detail, warning
