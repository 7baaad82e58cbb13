"""verify on the real Kubernetes cluster: a bad v2 is detected under load and rolled back.

The cluster is the one `.ci/kubernetes.sh` starts. The Deployment runs on the host network at
127.0.0.1:PORT (tests/support/kubernetes_cluster.py), so the load, the smoke tests and the
readiness checks never leave loopback. The rollback is the backend's own: the Deployment's
template goes back to the previous ReplicaSet's, as `kubectl rollout undo` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.example_service import alembic
from tests.support.kubernetes_cluster import (
    Cluster,
    Deployment,
    create_deployment,
    namespace,
    running_images,
    template_image,
)
from tests.support.rollout import roll_out, wait_stable_after
from tests.support.swarm import FaultyVersions, Versions
from tests.support.verify import (
    READINESS_TIMEOUT,
    failed_on_errors,
    findings,
    load_args,
    run_verify,
)

pytestmark = [
    pytest.mark.kubernetes,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.postgres,
]


@pytest.fixture
def deployment(
    kubernetes: Cluster, versions: Versions, example_python: Path, fresh_database: str
) -> Iterator[Deployment]:
    # Migrated: the load lists items, which needs the table.
    assert alembic(example_python, fresh_database, "upgrade", "head").returncode == 0
    with namespace(kubernetes) as name:
        yield create_deployment(kubernetes, name, versions.v1, fresh_database)


def test_v2_failing_five_percent_with_500_is_rolled_back_on_kubernetes(
    kubernetes: Cluster,
    deployment: Deployment,
    versions: Versions,
    faulty: FaultyVersions,
    tmp_path: Path,
) -> None:
    baseline = tmp_path / "baseline.json"
    code, _ = run_verify("--phase", "baseline", *load_args(deployment.url, baseline))
    assert code == 0
    started = roll_out(deployment, faulty.images["errors"])
    code, stable = wait_stable_after(deployment, started, *READINESS_TIMEOUT)
    assert code == 0, stable  # it starts and is ready: only verify can tell it is bad

    code, report = run_verify(
        "--phase", "verify", *deployment.action_args(), *load_args(deployment.url, baseline),
        "--timeout", "120",
    )  # fmt: skip

    assert code == 1
    assert failed_on_errors(report), findings(report)
    assert report["rolled_back"] is True, report
    assert report["serving"] == versions.v1
    assert template_image(kubernetes, deployment) == versions.v1
    assert running_images(kubernetes, deployment) == [versions.v1]
    assert httpx.get(deployment.url + "/health/ready", timeout=5).status_code == 200
    assert httpx.get(deployment.url + "/api/v1/items", timeout=5).status_code == 200
    print(f"verify began → rollback begun: {report['detection_seconds']:.2f}s")
