"""verify against the example service running as a process (its own venv, real PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fastapi_ci.verify.load import REFERENCE
from tests.support.components import EXAMPLE_SERVICE
from tests.support.example_service import RunningService, alembic
from tests.support.verify import run_verify

pytestmark = [pytest.mark.postgres]


def test_baseline_then_verify_of_the_same_version_passes_with_its_metrics(
    example_python: Path,
    fresh_database: str,
    start_service: Callable[[str], RunningService],
    tmp_path: Path,
) -> None:
    assert alembic(example_python, fresh_database, "upgrade", "head").returncode == 0
    service = start_service(fresh_database)
    common = [
        "--service-url", service.base_url,
        "--openapi", str(EXAMPLE_SERVICE / "openapi.json"),
        "--baseline-file", str(tmp_path / "baseline.json"),
        "--min-samples", "20",  # a short window on a busy machine may answer fewer than 50
        "--window", "4", "--rate", "40",
    ]  # fmt: skip

    code, baseline = run_verify("--phase", "baseline", *common)
    assert code == 0, baseline
    recorded = json.loads((tmp_path / "baseline.json").read_text())
    # Not the readiness probe: wait-stable's, and 503 by design while the database is slow.
    assert set(recorded["endpoints"]) == {
        "GET /api/v1/items",
        "GET /health/live",
        REFERENCE,  # the runner's own server, to tell a busy machine from a slow version
    }
    assert sum(e["total"] for e in recorded["endpoints"].values()) >= 100

    code, report = run_verify("--phase", "verify", "--no-rollback", *common)

    assert code == 0, report
    assert report["verdict"] == "pass"
    assert report["smoke"]["results"]  # type: ignore[index]
    skipped = {entry["operation"]: entry["reason"] for entry in report["smoke"]["skipped"]}  # type: ignore[index]
    assert "readiness probe" in skipped["GET /health/ready"]
    endpoints = report["endpoints"]
    assert isinstance(endpoints, dict)
    listing = endpoints["GET /api/v1/items"]
    assert listing["after"]["errors"] == 0
    # The service's own count (from /metrics) saw at least the tool's requests.
    assert listing["service"]["requests"] >= listing["after"]["requests"]

    # A window too short to compare is inconclusive: a pass by default, a failure on demand.
    thin = [*common[:-4], "--window", "1", "--rate", "10", "--no-rollback"]
    code, report = run_verify(*thin)
    assert (code, report["verdict"]) == (0, "inconclusive")
    code, report = run_verify(*thin, "--inconclusive", "fail")
    assert (code, report["verdict"], report["rolled_back"]) == (1, "inconclusive", False)


def test_verify_needs_a_service_to_roll_back(tmp_path: Path) -> None:
    code, _ = run_verify("--service-url", "http://127.0.0.1:9", "--openapi", "nowhere.json")
    assert code == 2


def test_a_service_url_that_is_not_http_is_bad_input() -> None:
    code, _ = run_verify("--service-url", "ftp://127.0.0.1", "--no-rollback")
    assert code == 2
