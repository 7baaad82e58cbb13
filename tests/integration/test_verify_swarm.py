"""verify on a real Swarm with the example service, under the tool's own load.

Each test deploys like deploy.yml: baseline of v1, rollout + wait-stable of a v2, verify.
The bad v2s are the example image plus a test-only fault layer
(tests/fixtures/verify/faulty-version): the production code has no fault switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.components import Registry
from tests.support.example_service import alembic
from tests.support.rollout import roll_out, wait_stable
from tests.support.swarm import (
    FaultyVersions,
    SwarmService,
    Versions,
    create_service,
    remove_service,
    serving_image,
)
from tests.support.verify import (
    READINESS_TIMEOUT,
    failed_on_errors,
    findings,
    load_args,
    run_verify,
)

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.postgres]


@pytest.fixture
def service(
    swarm: list[str],
    versions: Versions,
    registry: Registry,
    example_python: Path,
    fresh_database: str,
) -> Iterator[SwarmService]:
    # Migrated: the load lists items, which needs the table.
    assert alembic(example_python, fresh_database, "upgrade", "head").returncode == 0
    created = create_service(swarm, versions, registry, fresh_database)
    yield created
    remove_service(swarm, created.name)


def deploy_and_verify(
    service: SwarmService, image: str, tmp_path: Path
) -> tuple[int, dict[str, object]]:
    """Baseline of v1, rollout of `image`, wait-stable, verify; verify's (exit code, report)."""
    baseline = tmp_path / "baseline.json"
    code, _ = run_verify("--phase", "baseline", *load_args(service.url, baseline))
    assert code == 0
    started = roll_out(service, image)
    code, stable = wait_stable(service, str(started["deployed_image"]), *READINESS_TIMEOUT)
    assert code == 0, stable
    return run_verify(
        "--phase", "verify", *service.action_args(), *load_args(service.url, baseline),
        "--timeout", "120",
    )  # fmt: skip


def assert_v1_serves_again(
    swarm: list[str], service: SwarmService, report: dict[str, object]
) -> None:
    assert report["rolled_back"] is True, report
    assert serving_image(swarm, service.name).startswith(service.versions.v1 + "@sha256:")
    assert httpx.get(service.url + "/health/ready", timeout=5).status_code == 200
    assert httpx.get(service.url + "/api/v1/items", timeout=5).status_code == 200
    print(f"verify began → rollback begun: {report['detection_seconds']:.2f}s")


def test_healthy_v2_passes(swarm: list[str], service: SwarmService, tmp_path: Path) -> None:
    code, report = deploy_and_verify(service, service.versions.v2, tmp_path)

    assert code == 0, findings(report)
    assert report["verdict"] == "pass"
    assert report["rolled_back"] is False
    assert serving_image(swarm, service.name).startswith(service.versions.v2 + "@sha256:")


def test_v2_with_a_slow_list_endpoint_is_rolled_back(
    swarm: list[str], service: SwarmService, faulty: FaultyVersions, tmp_path: Path
) -> None:
    code, report = deploy_and_verify(service, faulty.images["slow-list"], tmp_path)

    assert code == 1
    assert report["verdict"] == "fail"
    endpoints = report["endpoints"]
    assert isinstance(endpoints, dict)
    listing = endpoints["GET /api/v1/items"]
    assert listing["outcome"] == "fail"
    # The slow 5% is a tail; early in the window it may also show as a shift of the whole.
    assert any("-vs-baseline" in finding for finding in listing["findings"]), listing
    assert_v1_serves_again(swarm, service, report)


def test_v2_failing_five_percent_with_500_is_rolled_back(
    swarm: list[str], service: SwarmService, faulty: FaultyVersions, tmp_path: Path
) -> None:
    code, report = deploy_and_verify(service, faulty.images["errors"], tmp_path)

    assert code == 1
    assert failed_on_errors(report), findings(report)
    assert_v1_serves_again(swarm, service, report)


def test_v2_without_an_endpoint_fails_its_smoke_test_and_is_rolled_back(
    swarm: list[str], service: SwarmService, faulty: FaultyVersions, tmp_path: Path
) -> None:
    code, report = deploy_and_verify(service, faulty.images["removed-list"], tmp_path)

    assert code == 1
    smoke = report["smoke"]
    assert isinstance(smoke, dict)
    failed = [r for r in smoke["results"] if not r["passed"]]
    assert [(r["operation"], r["status"]) for r in failed] == [("GET /api/v1/items", 405)]
    assert_v1_serves_again(swarm, service, report)
