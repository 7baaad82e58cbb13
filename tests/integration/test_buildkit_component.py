"""The BuildKit component on real parts: buildkitd, the buildx builder, QEMU, the registry.

`docker buildx` (the remote builder of `.ci/services.sh`, selected by BUILDX_CONFIG and
BUILDX_BUILDER, with a throwaway DOCKER_CONFIG holding the registry login) builds a Dockerfile
for linux/amd64 and linux/arm64 FROM the multi-platform stand-in base in the local registry,
and pushes one manifest list; each platform's image then runs on the engine, arm64 under QEMU.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.components import BuildKit, Registry

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.buildkit]

MANIFEST_LIST_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
# What the image reports, by platform: uname's machine name, at build time (a RUN step, under
# QEMU for arm64) and at run time.
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN python3 -c 'import platform; print(platform.machine())' > /built-on
CMD ["python3", "-c", "import platform; print(platform.machine())"]
"""


@dataclass(frozen=True)
class Pushed:
    """A manifest list in the registry and the per-platform digests it lists."""

    repository: str  # host/path
    list_media_type: str
    digests: dict[str, str]  # "os/arch" -> sha256:...


def run(command: list[str], env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(
        command, env=env, input=stdin, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def client_env(
    docker_cli: list[str], registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A docker client environment of the module's own, logged in to the registry."""
    config = tmp_path_factory.mktemp("docker-config")
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    run(
        [*docker_cli, "login", registry.host, "-u", registry.username, "--password-stdin"],
        env,
        stdin=registry.password,
    )
    return env


@pytest.fixture(scope="module")
def pushed(
    docker_cli: list[str],
    buildkit: BuildKit,
    registry: Registry,
    client_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pushed]:
    """One two-platform build pushed by buildx; removed from the registry and engine after."""
    context = tmp_path_factory.mktemp("context")
    (context / "Dockerfile").write_text(DOCKERFILE)
    path = f"fastapi-ci-test/buildkit-{uuid.uuid4().hex[:8]}"
    repository = f"{registry.host}/{path}"
    run(
        [
            *docker_cli,
            "buildx",
            "build",
            "--platform",
            ",".join(buildkit.platforms),
            "--build-arg",
            f"BASE_IMAGE={buildkit.base_image}",
            # Attestations would add an unknown/unknown entry; build-push's own tests cover them.
            "--provenance=false",
            "--tag",
            f"{repository}:multi",
            "--push",
            str(context),
        ],
        {**client_env, **buildkit.buildx_env()},
    )
    auth = (registry.username, registry.password)
    answer = httpx.get(
        f"http://{registry.host}/v2/{path}/manifests/multi",
        auth=auth,
        headers={"Accept": ", ".join(MANIFEST_LIST_TYPES)},
        timeout=10,
    )
    answer.raise_for_status()
    digests = {
        f"{entry['platform']['os']}/{entry['platform']['architecture']}": entry["digest"]
        for entry in answer.json()["manifests"]
    }
    yield Pushed(repository, answer.headers["Content-Type"], digests)
    references = [f"{repository}@{digest}" for digest in digests.values()]
    subprocess.run([*docker_cli, "image", "rm", "-f", *references], capture_output=True)
    for digest in [answer.headers["Docker-Content-Digest"], *digests.values()]:
        httpx.delete(f"http://{registry.host}/v2/{path}/manifests/{digest}", auth=auth, timeout=10)


def test_remote_builder_pushes_one_manifest_list_with_an_image_per_platform(
    pushed: Pushed, buildkit: BuildKit
) -> None:
    assert pushed.list_media_type in MANIFEST_LIST_TYPES
    assert sorted(pushed.digests) == sorted(buildkit.platforms)
    assert len(set(pushed.digests.values())) == len(pushed.digests)


@pytest.mark.parametrize("platform", sorted(MACHINE))
def test_each_platform_image_runs_on_the_engine_and_was_built_on_its_own_machine(
    platform: str, pushed: Pushed, docker_cli: list[str], client_env: dict[str, str]
) -> None:
    image = f"{pushed.repository}@{pushed.digests[platform]}"
    command = [*docker_cli, "run", "--rm", "--network", "none", "--platform", platform, image]
    assert run(command, client_env).strip() == MACHINE[platform]
    assert run([*command, "cat", "/built-on"], client_env).strip() == MACHINE[platform]


def test_multi_platform_base_image_is_one_manifest_list_of_the_stand_in(
    buildkit: BuildKit, registry: Registry
) -> None:
    host, _, rest = buildkit.base_image.partition("/")
    path, _, tag = rest.rpartition(":")
    answer = httpx.get(
        f"http://{host}/v2/{path}/manifests/{tag}",
        auth=(registry.username, registry.password),
        headers={"Accept": ", ".join(MANIFEST_LIST_TYPES)},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] in MANIFEST_LIST_TYPES
    platforms = [
        f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        for entry in answer.json()["manifests"]
    ]
    assert sorted(platforms) == sorted(buildkit.platforms)


def test_buildx_plugin_answers_whatever_the_docker_config(
    docker_cli: list[str], buildkit: BuildKit
) -> None:
    # The plugin is found outside any DOCKER_CONFIG (the tests and build-push use throwaway ones).
    version = run(
        [*docker_cli, "buildx", "version"], {**os.environ, "DOCKER_CONFIG": "/nonexistent"}
    )
    assert version.startswith("github.com/docker/buildx v")
