"""The build command lines: buildx with cache and provenance control, or the engine's."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from fastapi_ci.build_push.build import BuildRequest, buildx_command, engine_command, resolve_cache
from fastapi_ci.clients.docker_engine import DockerCli
from fastapi_ci.errors import InputError

BUILDX = DockerCli(path="/usr/bin/docker", version="27.3.1", has_buildx=True)
DEBIAN = DockerCli(path="/usr/bin/docker", version="20.10.24+dfsg1", has_buildx=False)
GHA_ENV = {"ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_CACHE_URL": "https://cache/"}


def request(**changes: object) -> BuildRequest:
    values: dict[str, object] = {
        "context": Path("svc"),
        "dockerfile": Path("svc/Dockerfile"),
        "tags": ("ghcr.io/acme/orders:main", "ghcr.io/acme/orders:sha-1234567"),
        "labels": {"org.opencontainers.image.revision": "1234567"},
        "build_args": {"BASE_IMAGE": "python:3.12-slim"},
        "cache": "gha",
        "cache_ref": "ghcr.io/acme/orders:buildcache",
        "cache_scope": "acme/orders",
    }
    values.update(changes)
    return BuildRequest(**values)  # type: ignore[arg-type]


def test_buildx_loads_with_gha_cache_and_provenance_off_by_default() -> None:
    command = buildx_command(BUILDX, request(), iidfile=Path("iid"), metadata_file=Path("m.json"))
    assert command[:4] == ["/usr/bin/docker", "buildx", "build", "--progress=plain"]
    assert "--provenance=false" in command
    pairs = list(itertools.pairwise(command))
    assert ("--cache-from", "type=gha,scope=acme/orders") in pairs
    assert ("--cache-to", "type=gha,mode=max,scope=acme/orders") in pairs
    assert ("--tag", "ghcr.io/acme/orders:sha-1234567") in pairs
    assert ("--build-arg", "BASE_IMAGE=python:3.12-slim") in pairs
    assert ("--label", "org.opencontainers.image.revision=1234567") in pairs
    assert ("--iidfile", "iid") in pairs
    assert command[-2:] == ["--load", "svc"]


def test_buildx_registry_cache_is_written_only_when_pushing() -> None:
    loaded = buildx_command(
        BUILDX, request(cache="registry"), iidfile=Path("i"), metadata_file=Path("m")
    )
    pushed = buildx_command(
        BUILDX,
        request(cache="registry", provenance="min", repository="ghcr.io/acme/orders"),
        iidfile=Path("i"),
        metadata_file=Path("m"),
        output="digest",
    )
    assert "type=registry,ref=ghcr.io/acme/orders:buildcache" in loaded
    assert "--cache-to" not in loaded
    assert "type=registry,ref=ghcr.io/acme/orders:buildcache,mode=max" in pushed
    assert "--provenance=mode=min" in pushed


def test_a_multi_platform_push_goes_by_digest_without_tags() -> None:
    command = buildx_command(
        BUILDX,
        request(
            platforms=("linux/amd64", "linux/arm64"),
            provenance="max",
            sbom=True,
            repository="ghcr.io/acme/orders",
        ),
        iidfile=Path("i"),
        metadata_file=Path("m.json"),
        output="digest",
    )
    pairs = list(itertools.pairwise(command))
    assert ("--platform", "linux/amd64,linux/arm64") in pairs
    assert (
        "--output",
        "type=image,name=ghcr.io/acme/orders,push-by-digest=true,name-canonical=true,push=true",
    ) in pairs
    assert ("--metadata-file", "m.json") in pairs
    assert "--tag" not in command  # tags are put on the digest once it passed the checks
    assert "--provenance=mode=max" in command
    assert "--sbom=true" in command
    assert "--push" not in command
    mirrored = buildx_command(
        BUILDX,
        request(sbom=True, sbom_generator="registry.internal/syft-scanner:1"),
        iidfile=Path("i"),
        metadata_file=Path("m"),
        output="digest",
    )
    assert "--sbom=generator=registry.internal/syft-scanner:1" in mirrored
    assert "--load" not in command


def test_a_build_that_is_not_pushed_stays_in_the_builder() -> None:
    command = buildx_command(
        BUILDX,
        request(platforms=("linux/amd64", "linux/arm64")),
        iidfile=Path("i"),
        metadata_file=Path("m"),
        output="none",
    )
    assert not {"--load", "--push", "--output"} & set(command)


@pytest.mark.parametrize("builder", ["buildx", "engine"])
def test_target_platform_and_secrets_reach_both_builders(builder: str) -> None:
    wanted = request(
        platforms=("linux/arm64",), target="runtime", secrets=("id=pip,src=/tmp/x/secret-0",)
    )
    command = (
        buildx_command(BUILDX, wanted, iidfile=Path("i"), metadata_file=Path("m"))
        if builder == "buildx"
        else engine_command(DEBIAN, wanted, iidfile=Path("i"))
    )
    pairs = list(itertools.pairwise(command))
    assert ("--platform", "linux/arm64") in pairs
    assert ("--target", "runtime") in pairs
    assert ("--secret", "id=pip,src=/tmp/x/secret-0") in pairs


def test_engine_build_has_no_buildx_only_flags() -> None:
    command = engine_command(DEBIAN, request(no_cache=True), iidfile=Path("iid"))
    assert command[:3] == ["/usr/bin/docker", "build", "--progress=plain"]
    assert "--no-cache" in command
    assert not [flag for flag in command if flag.startswith(("--provenance", "--cache", "--load"))]


@pytest.mark.parametrize(
    ("requested", "builder", "env", "pushing", "expected"),
    [
        ("auto", "buildx", GHA_ENV, True, "gha"),
        ("auto", "buildx", {}, True, "registry"),
        ("auto", "buildx", {}, False, "none"),
        ("registry", "buildx", {}, False, "registry"),
        ("auto", "docker", GHA_ENV, True, "none"),
    ],
)
def test_cache_resolution(
    requested: str, builder: str, env: dict[str, str], pushing: bool, expected: str
) -> None:
    assert resolve_cache(requested, builder, env, pushing)[0] == expected  # type: ignore[arg-type]


def test_gha_cache_without_the_runtime_token_says_how_to_get_it() -> None:
    with pytest.raises(InputError, match="only to JavaScript actions") as caught:
        resolve_cache("gha", "buildx", {}, pushing=True)
    assert "ghaction-github-runtime" in caught.value.fix


def test_gha_cache_on_the_engine_falls_back_with_a_note() -> None:
    cache, note = resolve_cache("gha", "docker", GHA_ENV, pushing=True)
    assert cache == "none"
    assert note is not None
    assert "buildx" in note


def test_old_clients_have_builtin_buildkit_new_ones_need_buildx() -> None:
    assert DEBIAN.builtin_buildkit
    assert not DockerCli("/usr/local/bin/docker", "27.3.1", has_buildx=False).builtin_buildkit
