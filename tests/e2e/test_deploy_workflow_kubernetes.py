"""`deploy.yml` with target kubernetes, called from a service repository, under act.

The Deployment already runs v1 on the real cluster of `.ci/kubernetes.sh` (host network,
127.0.0.1:PORT, see tests/support/kubernetes_cluster.py); the workflow gates, builds and pushes
the caller's code to the local registry, migrates the database once with a Job of the new image,
rolls the Deployment out, waits until it is stable and ready, and verifies it against v1's
baseline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import CallerRepository, RunAct
from tests.support.components import Postgres, Registry
from tests.support.deploy_workflow import deploy_caller
from tests.support.example_service import example_head, head_revision
from tests.support.kubernetes_cluster import (
    Cluster,
    Deployment,
    create_deployment,
    namespace,
    template_image,
)
from tests.support.swarm import Versions

pytestmark = [
    pytest.mark.kubernetes,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.postgres,
]


@pytest.fixture
def deployment_v1(
    kubernetes: Cluster, versions: Versions, postgres: Postgres, fresh_database: str
) -> Iterator[Deployment]:
    with namespace(kubernetes) as name:
        yield create_deployment(kubernetes, name, versions.v1, fresh_database)


def test_deploy_to_kubernetes_migrates_with_a_job_and_the_new_version_serves(
    kubernetes: Cluster,
    deployment_v1: Deployment,
    registry: Registry,
    base_image: str,
    fresh_database: str,
    caller_repository: Callable[[str], CallerRepository],
    run_act: RunAct,
) -> None:
    workflow = deploy_caller(
        "kubernetes",
        deployment_v1.name,
        deployment_v1.url,
        registry,
        base_image,
        namespace=deployment_v1.namespace,
    )
    repository = caller_repository(workflow)
    with (repository.path / "app" / "main.py").open("a") as main:
        main.write("# v2: a change of code, so a new image\n")
    repository.commit("v2")
    # The secret file holds one line per secret: the kubeconfig as JSON fits on one.
    kubeconfig = json.dumps(yaml.safe_load(Path(kubernetes.kubeconfig).read_text()))
    secrets = {
        "REGISTRY_PASSWORD": registry.password,
        "DATABASE_URL": fresh_database,
        "KUBECONFIG": kubeconfig,
    }

    run = run_act(repository, "push", secrets)

    assert run.returncode == 0, run.log[-5000:]
    [outputs] = run.lines("| outputs deployed=")
    assert "deployed=true" in outputs
    deployed_image = outputs.split("image=", 1)[1].strip()
    assert "@sha256:" in deployed_image
    # The Deployment runs exactly the image the workflow built and pushed, and it is ready.
    assert template_image(kubernetes, deployment_v1) == deployed_image
    assert httpx.get(deployment_v1.url + "/health/ready", timeout=5).status_code == 200
    # The migration ran once, in a Job of the new image, before the rollout.
    assert head_revision(fresh_database) == example_head()
    summary = run.summary()
    assert "migrate-once: migration succeeded" in summary
    assert "rollout started" in summary
    # verify recorded v1 through loopback, then judged v2 against it under load, and passed.
    assert "baseline of" in summary
    assert "✅ verify:" in summary
