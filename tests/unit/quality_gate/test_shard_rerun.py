"""What the gate re-runs after a sharded run failed, and what it says about it."""

from __future__ import annotations

from pathlib import Path

from fastapi_ci.quality_gate.sharding import rerun as shard_rerun

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="tests.test_users" name="test_ok" file="tests/test_users.py" line="3"/>
  <testcase classname="tests.test_users" name="test_read[admin@example.com]"
            file="tests/test_users.py" line="9">
    <error message="failed on setup with IntegrityError">...</error>
  </testcase>
  <testcase classname="tests.api.test_items.TestItems" name="test_create"
            file="tests/api/test_items.py" line="20">
    <failure message="assert 1 == 2">...</failure>
    <error message="failed on teardown">...</error>
  </testcase>
  <testcase classname="" name="tests.test_broken" time="0">
    <error message="collection failure">ImportError</error>
  </testcase>
</testsuite></testsuites>
"""


def test_failed_and_erroring_tests_become_pytest_node_ids() -> None:
    assert shard_rerun.failed_node_ids(JUNIT) == [
        "tests/test_users.py::test_read[admin@example.com]",
        "tests/api/test_items.py::TestItems::test_create",
    ]


def test_failures_are_gathered_from_every_shards_report(tmp_path: Path) -> None:
    (tmp_path / "junit-0.xml").write_text(JUNIT)
    (tmp_path / "junit-1.xml").write_text("not xml")
    reports = [tmp_path / "junit-0.xml", tmp_path / "junit-1.xml", tmp_path / "junit-2.xml"]
    assert len(shard_rerun.failed_tests(reports)) == 2


def test_the_warning_names_the_tests_and_the_input_to_set() -> None:
    tests = [f"tests/test_x.py::test_{n}" for n in range(7)]
    detail, warning = shard_rerun.not_shard_safe(tests, 2)
    assert detail.startswith("the suite is not shard-safe: 7 tests failed in 2 parallel")
    assert "test-shards: 1" in detail
    assert warning.level == "warning"
    assert "test_4 and 2 more" in warning.message
    assert "`test-shards: 1`" in warning.message
