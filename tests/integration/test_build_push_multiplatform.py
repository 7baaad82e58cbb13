"""build-push for amd64 and arm64 on the standalone buildkitd (buildx, remote driver), QEMU
for arm64, and the real registry: one manifest list, checked per platform, then tagged.

The example service is built once for both platforms from the multi-platform stand-in base
and shared by the tests (module fixture); provenance is a second, small build.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.build_push import NAMESPACE, SECRET_AND_TARGET, Run, build_push
from tests.support.components import BuildKit, Registry, component_missing, free_port
from tests.support.example_service import wait_for_http

PLATFORMS = ("linux/amd64", "linux/arm64")
MANIFEST_TYPES = ",".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
INDEX_TYPES = ",".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def registry_manifest(registry: Registry, repository: str, reference: str) -> httpx.Response:
    """GET a manifest (list) from the registry as a client asking for lists would."""
    path = repository.split("/", 1)[1]
    return httpx.get(
        f"http://{registry.host}/v2/{path}/manifests/{reference}",
        auth=(registry.username, registry.password),
        headers={"Accept": f"{INDEX_TYPES},{MANIFEST_TYPES}"},
        timeout=30,
    )


def login_config(docker_cli: list[str], registry: Registry, directory: Path) -> Path:
    """A throw-away DOCKER_CONFIG logged in to the registry (the user's is left alone)."""
    directory.mkdir(exist_ok=True)
    subprocess.run(
        [*docker_cli, "--config", str(directory), "login", "-u", registry.username,
         "--password-stdin", registry.host],
        input=registry.password, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def multi_pushed(
    buildkit: BuildKit, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """The example service for amd64 and arm64, pushed as a push to the default branch."""
    run = build_push(
        tmp_path_factory.mktemp("multi"),
        buildkit.base_image,
        image=f"{registry.host}/{NAMESPACE}/multi",
        platforms=",".join(PLATFORMS),
        push="true",
        size_budget_mb="500",
        registry_username=registry.username,
        registry_password=registry.password,
        extra_env=buildkit.buildx_env(),
    )
    assert run.code == 0, run.everything
    return run


def test_two_platforms_are_pushed_as_one_manifest_list_with_exactly_those_platforms(
    multi_pushed: Run, registry: Registry
) -> None:
    repository = multi_pushed.output("image").split("@", 1)[0]
    answer = registry_manifest(registry, repository, "main")
    assert answer.status_code == 200, answer.text
    index = answer.json()
    assert index["mediaType"] in INDEX_TYPES.split(",")
    listed = [
        f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        for entry in index["manifests"]
    ]
    assert sorted(listed) == sorted(PLATFORMS)  # no unknown/unknown: provenance is off
    # Every tag names the one list, and the outputs name it and its entries.
    digest = multi_pushed.output("digest")
    assert answer.headers["Docker-Content-Digest"] == digest
    for tag in multi_pushed.output("tag-names").splitlines():
        tagged = registry_manifest(registry, repository, tag)
        assert tagged.headers["Docker-Content-Digest"] == digest
    platform_digests = json.loads(multi_pushed.output("platform-digests"))
    assert platform_digests == {
        f"{entry['platform']['os']}/{entry['platform']['architecture']}": entry["digest"]
        for entry in index["manifests"]
    }
    assert float(multi_pushed.output("size-mb")) > 0


@pytest.fixture
def arm64_container(
    multi_pushed: Run, docker_cli: list[str], registry: Registry, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """The arm64 image pulled by digest and started under QEMU, published on 127.0.0.1."""
    config = login_config(docker_cli, registry, tmp_path / "docker-config")
    arm64 = json.loads(multi_pushed.output("platform-digests"))["linux/arm64"]
    reference = f"{multi_pushed.output('image').split('@', 1)[0]}@{arm64}"
    subprocess.run(
        [*docker_cli, "--config", str(config), "pull", reference],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    port = free_port()
    name = f"fastapi-ci-arm64-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [*docker_cli, "run", "-d", "--name", name, "--platform", "linux/arm64",
         "-p", f"127.0.0.1:{port}:8000", "-e", "WEB_CONCURRENCY=1", reference],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([*docker_cli, "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([*docker_cli, "image", "rm", reference], capture_output=True, check=False)


def test_the_arm64_image_runs_under_qemu_and_answers_health_live(
    arm64_container: tuple[str, str], docker_cli: list[str]
) -> None:
    name, base_url = arm64_container
    try:
        live = wait_for_http(f"{base_url}/health/live", timeout=180)  # emulated: slow start
    except AssertionError:
        logs = subprocess.run([*docker_cli, "logs", name], capture_output=True, text=True)
        raise AssertionError(f"never answered:\n{logs.stdout}{logs.stderr}") from None
    assert live.status_code == 200
    machine = subprocess.run(
        [*docker_cli, "exec", name, "python", "-c", "import platform; print(platform.machine())"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert machine.stdout.strip() == "aarch64"


def test_a_platform_over_the_size_budget_is_pushed_by_digest_but_never_tagged(
    buildkit: BuildKit, registry: Registry, tmp_path: Path, multi_pushed: Run
) -> None:
    repository = f"{registry.host}/{NAMESPACE}/multi-too-big"
    run = build_push(
        tmp_path,
        buildkit.base_image,
        image=repository,
        platforms=",".join(PLATFORMS),
        push="true",
        size_budget_mb="5",
        registry_username=registry.username,
        registry_password=registry.password,
        extra_env=buildkit.buildx_env(),
    )
    assert run.code == 1
    assert "linux/amd64 is " in run.stdout
    assert "linux/arm64 is " in run.stdout
    assert "over the size budget of 5 MB" in run.stdout
    assert "not tagged" in run.stdout
    assert run.output("pushed") == "false"
    assert registry_manifest(registry, repository, "main").status_code == 404


def test_secret_and_target_on_buildkit_for_both_platforms(
    buildkit: BuildKit, registry: Registry, tmp_path: Path
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    run = build_push(
        tmp_path,
        buildkit.base_image,
        image=f"{registry.host}/{NAMESPACE}/multi-secret",
        context=str(SECRET_AND_TARGET),
        build_args=f"BASE_IMAGE={buildkit.base_image} SECRET_VERSION={uuid.uuid4().hex}",
        platforms=",".join(PLATFORMS),
        target="checked",
        secrets="id=api_token,env=API_TOKEN",
        push="true",
        registry_username=registry.username,
        registry_password=registry.password,
        extra_env={**buildkit.buildx_env(), "API_TOKEN": secret, "GITHUB_ACTIONS": "true"},
    )
    assert run.code == 0, run.everything
    assert [line for line in run.everything.splitlines() if secret in line] == [
        f"::add-mask::{secret}"
    ]
    assert sorted(json.loads(run.output("platform-digests"))) == sorted(PLATFORMS)


def push_amd64_with_attestations(
    tmp_path: Path, buildkit: BuildKit, registry: Registry, name: str, **inputs: str
) -> tuple[Run, str, list[dict[str, Any]]]:
    """Push one platform with attestations; the run, the image's digest, the attestation's
    layers (read from the pushed list: exactly one image entry, one attestation entry)."""
    run = build_push(
        tmp_path,
        buildkit.base_image,
        image=f"{registry.host}/{NAMESPACE}/{name}",
        platforms="linux/amd64",
        push="true",
        registry_username=registry.username,
        registry_password=registry.password,
        extra_env=buildkit.buildx_env(),
        **inputs,
    )
    assert run.code == 0, run.everything
    repository = run.output("image").split("@", 1)[0]
    entries = registry_manifest(registry, repository, run.output("digest")).json()["manifests"]
    kind = "vnd.docker.reference.type"
    (attestation,) = [e for e in entries if e.get("annotations", {}).get(kind)]
    (image,) = [e for e in entries if e is not attestation]
    assert attestation["annotations"][kind] == "attestation-manifest"
    assert attestation["platform"] == {"os": "unknown", "architecture": "unknown"}
    assert attestation["annotations"]["vnd.docker.reference.digest"] == image["digest"]
    assert json.loads(run.output("platform-digests")) == {"linux/amd64": image["digest"]}
    layers = registry_manifest(registry, repository, attestation["digest"]).json()["layers"]
    return run, image["digest"], layers


def predicate_types(layers: list[dict[str, Any]]) -> list[str]:
    """The in-toto predicate type of each attestation layer."""
    return [layer["annotations"]["in-toto.io/predicate-type"] for layer in layers]


def test_provenance_is_attached_to_the_pushed_list_as_an_attestation(
    buildkit: BuildKit, registry: Registry, tmp_path: Path
) -> None:
    run, _, layers = push_amd64_with_attestations(
        tmp_path,
        buildkit,
        registry,
        "provenance",
        context=str(SECRET_AND_TARGET),
        target="runtime",
        provenance="max",
    )
    (predicate,) = predicate_types(layers)
    assert predicate.startswith("https://slsa.dev/provenance/")
    assert "unknown/unknown" in run.stdout  # the trade-off is said in the log


@pytest.fixture(scope="session")
def sbom_scanner(registry: Registry) -> str:
    """The SBOM generator image .ci/sbom-scanner.sh pushes (syft behind BuildKit's protocol)."""
    image = os.environ.get("FASTAPI_CI_SBOM_SCANNER", "")
    if not image:
        component_missing("sbom scanner", "FASTAPI_CI_SBOM_SCANNER is not set (.ci/services.sh)")
    repository, _, tag = image.partition("/")[2].rpartition(":")
    if registry_manifest(registry, f"{registry.host}/{repository}", tag).status_code != 200:
        component_missing("sbom scanner", f"{image} is not in the registry (.ci/sbom-scanner.sh)")
    return image


def test_an_sbom_of_the_image_is_attached_to_the_pushed_digest(
    buildkit: BuildKit, registry: Registry, tmp_path: Path, sbom_scanner: str
) -> None:
    run, image_digest, layers = push_amd64_with_attestations(
        tmp_path, buildkit, registry, "sbom", sbom="true", sbom_generator=sbom_scanner
    )
    assert predicate_types(layers) == ["https://spdx.dev/Document"]
    repository = run.output("image").split("@", 1)[0].split("/", 1)[1]
    statement = httpx.get(
        f"http://{registry.host}/v2/{repository}/blobs/{layers[0]['digest']}",
        auth=(registry.username, registry.password),
        timeout=30,
    ).json()
    packages = {package["name"] for package in statement["predicate"]["packages"]}
    assert {"fastapi", "uvicorn"} <= packages  # the venv's Python packages were scanned
    assert statement["subject"][0]["digest"]["sha256"] == image_digest.removeprefix("sha256:")


def test_two_platforms_not_pushed_are_built_from_a_private_base_with_the_given_login(
    buildkit: BuildKit, registry: Registry, tmp_path: Path, multi_pushed: Run
) -> None:
    # buildkitd is outside the engine: the base in the (authenticated) registry is pulled
    # with the action's credentials even though nothing is pushed.
    run = build_push(
        tmp_path,
        buildkit.base_image,
        image=f"{registry.host}/{NAMESPACE}/multi-unpushed",
        platforms=",".join(PLATFORMS),
        push="false",
        registry_username=registry.username,
        registry_password=registry.password,
        extra_env=buildkit.buildx_env(),
    )
    assert run.code == 0, run.everything
    assert "built (not pushed)" in run.stdout
    assert "2 platforms built, not pushed" in run.stdout
    assert (run.output("pushed"), run.output("digest"), run.output("platform-digests")) == (
        "false",
        "",
        "{}",
    )
