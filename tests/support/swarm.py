"""The example service on a real Swarm (the local engine): images in the local registry,
a service on the host network at 127.0.0.1:PORT, created at v1 and ready.

Shared by the rollout tests and the deploy workflow's end-to-end runs under act.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.components import Registry, component_missing, free_port

# Short enough for CI, long enough for gunicorn to drain: the grace period must exceed it.
GRACEFUL_SECONDS = 3


@dataclass(frozen=True)
class Versions:
    """v1 and v2 of the example image in the local registry, and a login for it."""

    v1: str
    v2: str
    docker_config: str


@dataclass(frozen=True)
class SwarmService:
    """A service of the example image on the host network, at 127.0.0.1:port."""

    name: str
    port: int
    versions: Versions
    registry: Registry

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def action_args(self) -> list[str]:
        return [
            "--service",
            self.name,
            "--registry-username",
            self.registry.username,
            "--registry-password",
            self.registry.password,
        ]


def ensure_swarm(docker: list[str]) -> None:
    """Initialise Swarm on the engine when it is inactive; left initialised for other runs."""
    state = subprocess.run(
        [*docker, "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    if state == "active":
        return
    init = subprocess.run(
        [*docker, "swarm", "init", "--advertise-addr", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if init.returncode != 0:
        component_missing("Docker Swarm", init.stderr.strip() or f"node state {state!r}")


def push_versions(docker: list[str], example_image: str, registry: Registry) -> Versions:
    """Push the example image as v1 and a relabelled rebuild as v2 (a different digest)."""
    config = tempfile.mkdtemp(prefix="fastapi-ci-docker-config-")
    env = {**os.environ, "DOCKER_CONFIG": config, "DOCKER_BUILDKIT": "1"}
    subprocess.run(
        [*docker, "login", registry.host, "-u", registry.username, "--password-stdin"],
        input=registry.password,
        text=True,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    repo = f"{registry.host}/fastapi-ci-rollout-test"
    suffix = uuid.uuid4().hex[:8]
    v1, v2 = f"{repo}:v1-{suffix}", f"{repo}:v2-{suffix}"
    subprocess.run([*docker, "tag", example_image, v1], check=True, env=env, timeout=60)
    subprocess.run(
        [*docker, "build", "-t", v2, "-"],
        input=f"FROM {example_image}\nLABEL fastapi-ci.test.version=v2-{suffix}\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    for tag in (v1, v2):
        subprocess.run(
            [*docker, "push", tag], env=env, check=True, capture_output=True, timeout=300
        )
    return Versions(v1=v1, v2=v2, docker_config=config)


# The bad v2s of verify's tests: the example image plus a test-only fault layer.
FAULTS = ("slow-list", "errors", "removed-list")
FAULTY_VERSION = Path(__file__).parents[1] / "fixtures" / "verify" / "faulty-version"


@dataclass(frozen=True)
class FaultyVersions:
    """One bad v2 per fault of tests/fixtures/verify/faulty-version, in the local registry."""

    images: dict[str, str]


def push_faulty_versions(
    docker: list[str], example_image: str, versions: Versions
) -> dict[str, str]:
    """One image per fault in `FAULTS`, built from the example image and pushed; by fault."""
    env = {**os.environ, "DOCKER_CONFIG": versions.docker_config, "DOCKER_BUILDKIT": "1"}
    repo = versions.v1.rsplit(":", 1)[0].replace("rollout-test", "verify-test")
    suffix = uuid.uuid4().hex[:8]
    images = {fault: f"{repo}:{fault}-{suffix}" for fault in FAULTS}
    for fault, image in images.items():
        subprocess.run(
            [
                *docker, "build", "-t", image,
                "--build-arg", f"EXAMPLE_IMAGE={example_image}",
                "--build-arg", f"FAULT={fault}",
                str(FAULTY_VERSION),
            ],
            env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        subprocess.run(
            [*docker, "push", image], env=env, check=True, capture_output=True, timeout=300
        )
    return images


def create_service(
    docker: list[str], versions: Versions, registry: Registry, database_url: str
) -> SwarmService:
    """`docker service create` v1 and wait until it answers ready."""
    service = SwarmService(
        name=f"fastapi-ci-rollout-{uuid.uuid4().hex[:8]}",
        port=free_port(),
        versions=versions,
        registry=registry,
    )
    subprocess.run(
        [
            *docker,
            "service",
            "create",
            "--quiet",
            "--detach",
            "--with-registry-auth",
            "--name",
            service.name,
            "--network",
            "host",
            "--replicas",
            "1",
            "--update-order",
            "start-first",
            "--update-monitor",
            "1s",
            "--stop-grace-period",
            f"{GRACEFUL_SECONDS + 2}s",
            # The image checks /health/live every 10 s; Swarm waits for "healthy" before it
            # stops the old task, so a short interval keeps each update to seconds.
            "--health-interval",
            "1s",
            "--health-start-period",
            "20s",
            "--env",
            f"PORT={service.port}",
            "--env",
            f"DATABASE_URL={database_url}",
            "--env",
            "WEB_CONCURRENCY=1",
            "--env",
            f"GRACEFUL_TIMEOUT_SECONDS={GRACEFUL_SECONDS}",
            versions.v1,
        ],
        env={**os.environ, "DOCKER_CONFIG": versions.docker_config},
        check=True,
        capture_output=True,
        timeout=120,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(service.url + "/health/ready", timeout=2).status_code == 200:
                return service
        time.sleep(0.3)
    remove_service(docker, service.name)
    raise AssertionError(f"v1 of {service.name} never became ready on {service.url}")


def remove_service(docker: list[str], name: str) -> None:
    subprocess.run([*docker, "service", "rm", name], capture_output=True, timeout=60, check=False)


def serving_image(docker: list[str], name: str) -> str:
    return subprocess.run(
        [
            *docker,
            "service",
            "inspect",
            name,
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def assert_rolled_back_to_v1(
    swarm: list[str], service: SwarmService, report: dict[str, object]
) -> None:
    assert report["rolled_back"] is True, report
    assert str(report["serving"]).startswith(service.versions.v1 + "@sha256:")
    assert serving_image(swarm, service.name).startswith(service.versions.v1 + "@sha256:")
    response = httpx.get(service.url + "/health/ready", timeout=5)
    assert response.status_code == 200, response.text
    print(f"detection (failure seen → rollback begun): {report['detection_seconds']:.2f}s")
