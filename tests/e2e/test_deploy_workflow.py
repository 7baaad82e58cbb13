"""`deploy.yml` with target swarm, called from a service repository, under act.

The Swarm service already runs v1 (the first deploy of a service is the platform's job);
the workflow gates, builds and pushes the caller's code to the local registry, migrates the
PostgreSQL database once with the new image, rolls it out and waits until it is stable and
ready, verifies it under load against v1's baseline, or rolls it back.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.conftest import ActRun, CallerRepository, RunAct
from tests.support.components import Registry
from tests.support.deploy_workflow import deploy_caller
from tests.support.example_service import example_head, head_revision
from tests.support.swarm import (
    SwarmService,
    Versions,
    create_service,
    remove_service,
    serving_image,
)

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.postgres]


def caller_workflow(service: SwarmService, registry: Registry, base_image: str) -> str:
    return deploy_caller("swarm", service.name, service.url, registry, base_image)


@pytest.fixture
def service_v1(
    swarm: list[str], versions: Versions, registry: Registry, fresh_database: str
) -> Iterator[SwarmService]:
    created = create_service(swarm, versions, registry, fresh_database)
    yield created
    remove_service(swarm, created.name)


@pytest.fixture
def service_repository(
    service_v1: SwarmService,
    registry: Registry,
    base_image: str,
    caller_repository: Callable[[str], CallerRepository],
) -> CallerRepository:
    """The service's repository, calling deploy.yml for service_v1."""
    return caller_repository(caller_workflow(service_v1, registry, base_image))


@pytest.fixture
def ship(
    registry: Registry, fresh_database: str, run_act: RunAct
) -> Callable[[CallerRepository], ActRun]:
    """Push to the repository's main branch: deploy.yml runs, under act."""

    def push(repository: CallerRepository) -> ActRun:
        secrets = {"REGISTRY_PASSWORD": registry.password, "DATABASE_URL": fresh_database}
        return run_act(repository, "push", secrets)

    return push


def ready(service: SwarmService) -> bool:
    return httpx.get(service.url + "/health/ready", timeout=5).status_code == 200


def test_deploy_to_swarm_gates_builds_migrates_and_the_new_version_serves(
    swarm: list[str],
    service_v1: SwarmService,
    fresh_database: str,
    service_repository: CallerRepository,
    ship: Callable[[CallerRepository], ActRun],
) -> None:
    repository = service_repository
    with (repository.path / "app" / "main.py").open("a") as main:
        main.write("# v2: a change of code, so a new image\n")
    repository.commit("v2")

    run = ship(repository)

    assert run.returncode == 0
    [outputs] = run.lines("| outputs deployed=")
    assert "deployed=true" in outputs
    deployed_image = outputs.split("image=", 1)[1].strip()
    assert "@sha256:" in deployed_image
    assert deployed_image != service_v1.versions.v1
    # Swarm runs exactly the image the workflow built and pushed, and it is ready.
    assert serving_image(swarm, service_v1.name).endswith(deployed_image.split("@", 1)[1])
    assert ready(service_v1)
    # The migration ran once, with the new image, before the rollout.
    assert head_revision(fresh_database) == example_head()
    summary = run.summary()
    assert "migrate-once: migration succeeded" in summary
    assert "rollout started" in summary
    # verify recorded v1, then judged v2 against it under load, and passed.
    assert "baseline of" in summary
    assert "✅ verify:" in summary


def test_deploy_of_a_broken_image_fails_and_the_old_version_still_serves(
    swarm: list[str],
    service_v1: SwarmService,
    fresh_database: str,
    service_repository: CallerRepository,
    ship: Callable[[CallerRepository], ActRun],
) -> None:
    repository = service_repository
    dockerfile = repository.path / "Dockerfile"
    # The gate, the schema and the migration are all fine; the process dies at start.
    broken = 'CMD ["python", "-c", "raise SystemExit(\'v2 is broken on purpose\')"]'
    text = dockerfile.read_text()
    assert 'CMD ["python", "-m", "app"]' in text
    dockerfile.write_text(text.replace('CMD ["python", "-m", "app"]', broken))
    repository.commit("v2, broken")

    run = ship(repository)

    assert run.returncode != 0
    assert run.lines("Failure - Main Wait until stable and ready")
    assert run.lines("::set-output:: deployed=false")
    assert "rolled back" in run.summary().lower()
    # v1 was never stopped (start-first) and is what Swarm runs again.
    assert serving_image(swarm, service_v1.name) == service_v1.versions.v1 or serving_image(
        swarm, service_v1.name
    ).startswith(service_v1.versions.v1)
    assert ready(service_v1)
    subprocess.run([*swarm, "service", "ps", service_v1.name], check=False)
