"""rollout + wait-stable on a real Swarm (the local engine) with the example service.

The service runs on `--network host` with start-first updates (no IPVS here, so no routing
mesh): gunicorn's SO_REUSEPORT lets the new task listen beside the old one, and the old
one closes its listener on SIGTERM, so clients never find the port closed.
"""

from __future__ import annotations

import time

import pytest

from tests.support.rollout import request_loop, roll_out, run_action, wait_stable
from tests.support.swarm import (
    SwarmService,
    assert_rolled_back_to_v1,
    serving_image,
)

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.postgres]


def test_healthy_v2_rolls_out_with_no_failed_request(
    swarm: list[str], service: SwarmService
) -> None:
    with request_loop(service.url + "/health/ready") as loop:
        started = roll_out(service, service.versions.v2)
        code, report = wait_stable(service, str(started["deployed_image"]))
        time.sleep(1)  # keep the loop going past the old task's exit
    assert code == 0, report
    assert report["rolled_back"] is False
    assert str(report["serving"]).startswith(service.versions.v2 + "@sha256:")
    assert str(started["previous_image"]).startswith(service.versions.v1)
    assert serving_image(swarm, service.name) == report["deployed_image"]
    assert loop.failures == [], f"{len(loop.failures)} failed of {loop.ok}: {loop.failures[:5]}"
    assert loop.ok > 20
    print(f"requests ok during the update: {loop.ok}")


def test_v2_crashing_at_start_is_rolled_back_and_v1_keeps_serving(
    swarm: list[str], service: SwarmService
) -> None:
    # An unknown URL scheme makes `python -m app` exit 2 before it listens.
    with request_loop(service.url + "/health/ready") as loop:
        started = roll_out(service, service.versions.v2, "DATABASE_URL=bogus://nowhere/x")
        code, report = wait_stable(service, str(started["deployed_image"]))
    # Start-first: v1 never stopped, so its clients never noticed the failed v2.
    assert loop.failures == [], loop.failures[:5]
    assert code == 1
    assert "exit code" in str(report["failure"]), report["failure"]
    assert_rolled_back_to_v1(swarm, service, report)


def test_v2_not_ready_is_rolled_back_and_v1_keeps_serving(
    swarm: list[str], service: SwarmService
) -> None:
    # Starts and answers /health/live, but /health/ready is 503: nothing listens on port 1.
    started = roll_out(service, service.versions.v2, "DATABASE_URL=postgresql://u:p@127.0.0.1:1/x")
    code, report = wait_stable(service, str(started["deployed_image"]))
    assert code == 1
    assert "HTTP 503" in str(report["failure"]), report["failure"]
    assert_rolled_back_to_v1(swarm, service, report)


def test_wait_stable_without_an_image_logs_in_to_no_registry_before_one_is_named(
    service: SwarmService,
) -> None:
    # With credentials but no image, the host to log in to is unknown until an image is
    # (a tag to resolve, a spec to return to): a login built up front went to Docker Hub,
    # which refused (or, with no network, never answered) and failed a healthy rollout.
    started = roll_out(service, service.versions.v2)
    code, report = run_action(
        [
            "wait-stable",
            *service.action_args(),
            "--service-url",
            service.url,
            "--timeout",
            "90",
            "--readiness-timeout",
            "30",
        ]
    )
    assert code == 0, report
    assert report["deployed_image"] == started["deployed_image"]
