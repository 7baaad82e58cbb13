"""rollout + wait-stable on a real Kubernetes Deployment of the example service.

The cluster is the one `.ci/kubernetes.sh` starts (real kubelet, real containerd). The
Deployment runs on the host network at 127.0.0.1:PORT (see tests/support/kubernetes_cluster.py),
so the request loop and the readiness checks never leave loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.components import Postgres
from tests.support.kubernetes_cluster import (
    Cluster,
    Deployment,
    create_deployment,
    namespace,
    running_images,
)
from tests.support.kubernetes_cluster import template_image as deployment_image
from tests.support.rollout import request_loop, roll_out, wait_stable_after
from tests.support.swarm import Versions

pytestmark = [
    pytest.mark.kubernetes,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.postgres,
]


@pytest.fixture
def deployment(kubernetes: Cluster, versions: Versions, postgres: Postgres) -> Iterator[Deployment]:
    with namespace(kubernetes) as name:
        yield create_deployment(kubernetes, name, versions.v1, postgres.url)


def assert_rolled_back_to_v1(
    kubernetes: Cluster, deployment: Deployment, versions: Versions, report: dict[str, object]
) -> None:
    assert report["rolled_back"] is True, report
    assert report["serving"] == versions.v1
    assert deployment_image(kubernetes, deployment) == versions.v1
    assert running_images(kubernetes, deployment) == [versions.v1]
    response = httpx.get(deployment.url + "/health/ready", timeout=5)
    assert response.status_code == 200, response.text
    print(f"detection (failure seen → rollback begun): {report['detection_seconds']}")


def test_healthy_v2_rolls_out_with_no_failed_request(
    kubernetes: Cluster, deployment: Deployment, versions: Versions
) -> None:
    with request_loop(deployment.url + "/health/ready") as loop:
        started = roll_out(deployment, versions.v2)
        code, report = wait_stable_after(deployment, started)
        time.sleep(1)  # keep the loop going past the old pod's exit
    assert code == 0, report
    assert report["rolled_back"] is False
    assert report["serving"] == versions.v2
    assert started["previous_image"] == versions.v1
    assert deployment_image(kubernetes, deployment) == versions.v2
    assert running_images(kubernetes, deployment) == [versions.v2]
    assert loop.failures == [], f"{len(loop.failures)} failed of {loop.ok}: {loop.failures[:5]}"
    assert loop.ok > 10  # it ran throughout (the machine may be busy)
    print(f"requests ok during the update: {loop.ok}")


def test_v2_crash_looping_is_rolled_back_and_v1_keeps_serving(
    kubernetes: Cluster, deployment: Deployment, versions: Versions
) -> None:
    # An unknown URL scheme makes `python -m app` exit 2 before it listens.
    with request_loop(deployment.url + "/health/ready") as loop:
        started = roll_out(deployment, versions.v2, "DATABASE_URL=bogus://nowhere/x")
        code, report = wait_stable_after(deployment, started)
    # maxUnavailable 0: v1 never stopped, so its clients never noticed the failed v2.
    assert loop.failures == [], loop.failures[:5]
    assert code == 1
    assert "CrashLoopBackOff" in str(report["failure"]), report["failure"]
    assert "last exit code 2" in str(report["failure"]), report["failure"]
    assert_rolled_back_to_v1(kubernetes, deployment, versions, report)


def test_v2_not_ready_is_rolled_back_and_v1_serves_again(
    kubernetes: Cluster, deployment: Deployment, versions: Versions
) -> None:
    # It listens (so the pod is Ready and the rollout completes), but /health/ready is 503:
    # nothing listens on port 1. Only the deep readiness check can catch it.
    started = roll_out(deployment, versions.v2, "DATABASE_URL=postgresql://u:p@127.0.0.1:1/x")
    code, report = wait_stable_after(deployment, started)
    assert code == 1
    assert "HTTP 503" in str(report["failure"]), report["failure"]
    assert_rolled_back_to_v1(kubernetes, deployment, versions, report)


def test_v2_image_that_cannot_be_pulled_is_rolled_back(
    kubernetes: Cluster, deployment: Deployment, versions: Versions
) -> None:
    missing = versions.v2.rsplit(":", 1)[0] + ":no-such-tag"
    started = roll_out(deployment, missing)
    code, report = wait_stable_after(deployment, started)
    assert code == 1
    assert "ErrImagePull" in str(report["failure"]) or "ImagePullBackOff" in str(
        report["failure"]
    ), report["failure"]
    assert_rolled_back_to_v1(kubernetes, deployment, versions, report)


def test_rollout_past_its_progress_deadline_is_rolled_back(
    kubernetes: Cluster, versions: Versions, postgres: Postgres
) -> None:
    # A pod quota of 1: v1's pod fills it, so v2's pod can never be created (the
    # ReplicaSet reports FailedCreate) and the Deployment stops progressing. No pod is
    # stuck, so only the controller's ProgressDeadlineExceeded can say it failed.
    with namespace(kubernetes, max_pods=1) as name:
        deployment = create_deployment(
            kubernetes, name, versions.v1, postgres.url, progress_deadline_seconds=10
        )
        started = roll_out(deployment, versions.v2)
        code, report = wait_stable_after(deployment, started)
        assert code == 1
        assert "progress deadline" in str(report["failure"]), report["failure"]
        assert_rolled_back_to_v1(kubernetes, deployment, versions, report)
