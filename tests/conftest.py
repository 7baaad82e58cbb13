"""Session fixtures for the real components the tests use.

Each fixture checks that its component answers. When one does not, the test is skipped with
the reason, except under `CI=true`, where a missing component FAILS the test: a green CI run
must mean the real thing was exercised. `.ci/services.sh` starts them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import (
    EXAMPLE_SERVICE,
    BuildKit,
    Postgres,
    Registry,
    component_missing,
    find_buildkit,
    throwaway_database,
)
from tests.support.kubernetes_cluster import Cluster, connect, kubeconfig_path
from tests.support.swarm import Versions, ensure_swarm, push_versions

# The fixture projects' own suites are run by the gate under test, never collected here.
collect_ignore_glob = ["fixtures/projects/*"]


@pytest.fixture(scope="session")
def docker_cli() -> list[str]:
    """The Debian docker client (it has BuildKit; the newer client on PATH has no buildx)."""
    client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
    if client is None:
        component_missing("Docker engine", "no docker client installed")
    probe = subprocess.run(
        [client, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        component_missing("Docker engine", probe.stderr.strip() or "docker info failed")
    return [client]


@pytest.fixture(scope="session")
def base_image(docker_cli: list[str]) -> str:
    """The stand-in for python:3.11-slim built from Debian packages (Docker Hub is unreachable)."""
    image = os.environ.get("FASTAPI_CI_BASE_IMAGE", "fastapi-ci/python-standin:3.11")
    probe = subprocess.run(
        [*docker_cli, "image", "inspect", image], capture_output=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        component_missing("stand-in base image", f"{image} is not in the local engine")
    return image


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The local registry; it must demand credentials (401 on /v2/ without them)."""
    import httpx

    host = os.environ.get("FASTAPI_CI_REGISTRY", "127.0.0.1:5000")
    try:
        status = httpx.get(f"http://{host}/v2/", timeout=5).status_code
    except httpx.HTTPError as error:
        component_missing("registry", f"http://{host}/v2/ does not answer: {error}")
    if status != 401:
        component_missing("registry", f"http://{host}/v2/ answered {status}, expected 401 (auth)")
    return Registry(
        host=host,
        username=os.environ.get("FASTAPI_CI_REGISTRY_USER", "ci-user"),
        password=os.environ.get("FASTAPI_CI_REGISTRY_PASSWORD", "ci-password-123"),
    )


@pytest.fixture(scope="session")
def buildkit(docker_cli: list[str], registry: Registry) -> BuildKit:
    """buildkitd, its buildx builder (remote driver), QEMU for arm64, the multi-platform base."""
    return find_buildkit(docker_cli, registry)


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """The shared PostgreSQL server (a superuser role, so tests can create databases)."""
    import psycopg

    url = os.environ.get(
        "FASTAPI_CI_DATABASE_URL", "postgresql://fastapi_ci:fastapi_ci@127.0.0.1:5432/fastapi_ci"
    )
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        component_missing("PostgreSQL", str(error).strip())
    return Postgres(url=url)


@pytest.fixture
def fresh_database(postgres: Postgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    with throwaway_database(postgres, request.node.name) as url:
        yield url


@pytest.fixture(scope="session")
def example_python() -> Path:
    """The example service's own virtualenv (its pinned requirements), created with uv."""
    venv = EXAMPLE_SERVICE / ".venv"
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv is None:
        component_missing("uv", "uv is not on PATH (pip install uv)")
    if not python.exists():
        subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
    # uv pip sync is a no-op when the venv already matches the lock, so this is cheap.
    subprocess.run(
        [
            uv,
            "pip",
            "sync",
            "--quiet",
            "--python",
            str(python),
            str(EXAMPLE_SERVICE / "requirements-dev.txt"),
        ],
        check=True,
    )
    return python


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's AWS stand-in in server mode on a free 127.0.0.1 port; its endpoint URL."""
    from tests.support import aws  # boto3 only for the tests that use AWS

    with aws.moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def example_image(docker_cli: list[str], base_image: str) -> Iterator[str]:
    """The example service's image, built on the local engine from the stand-in base."""
    tag = f"fastapi-ci-example:test-{uuid.uuid4().hex[:8]}"
    build = subprocess.run(
        [
            *docker_cli,
            "build",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "-t",
            tag,
            str(EXAMPLE_SERVICE),
        ],
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, f"docker build failed:\n{build.stderr[-4000:]}"
    yield tag
    subprocess.run([*docker_cli, "image", "rm", "-f", tag], capture_output=True, check=False)


@pytest.fixture(scope="session")
def swarm(docker_cli: list[str]) -> list[str]:
    """The local engine as a Swarm manager."""
    ensure_swarm(docker_cli)
    return docker_cli


@pytest.fixture(scope="session")
def versions(swarm: list[str], example_image: str, registry: Registry) -> Iterator[Versions]:
    pushed = push_versions(swarm, example_image, registry)
    yield pushed
    subprocess.run(
        [*swarm, "image", "rm", "-f", pushed.v1, pushed.v2], capture_output=True, check=False
    )
    shutil.rmtree(pushed.docker_config, ignore_errors=True)  # it holds the registry login


@pytest.fixture(scope="session")
def kubernetes() -> Iterator[Cluster]:
    """The real one-node cluster of `.ci/kubernetes.sh`; KUBECONFIG points the actions at it."""
    cluster = connect(kubeconfig_path())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", cluster.kubeconfig)
        yield cluster
