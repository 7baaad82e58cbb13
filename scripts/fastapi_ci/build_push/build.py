"""Build the image with BuildKit: `docker buildx build` when available, else the engine's.

On a GitHub runner buildx is there (docker/setup-buildx-action) and brings the `type=gha`
or registry cache and provenance control; the image is `--load`ed into the engine so that
the size budget and the retrying push work the same on both paths. Without buildx (Debian's
20.10 client, these tests), `DOCKER_BUILDKIT=1 docker build` builds on the engine, whose
own layer store is the cache.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fastapi_ci.action_io import Console
from fastapi_ci.clients.docker_engine import DockerCli
from fastapi_ci.clients.registry import RegistryError, RegistryErrorKind, classify_error
from fastapi_ci.errors import CheckFailed, InputError

Builder = Literal["buildx", "docker"]
CacheMode = Literal["auto", "gha", "registry", "none"]
# load: into the engine; digest: pushed by digest only, untagged (checked in the registry
# before any tag points at it); none: left in the builder's cache (a multi-platform build
# that is not pushed: a manifest list cannot be loaded into the engine).
BuildxOutput = Literal["load", "digest", "none"]
ProvenanceMode = Literal["false", "min", "max"]
TAIL_LINES = 25


@dataclass(frozen=True)
class BuildRequest:
    """Everything a build needs, independent of which builder runs it."""

    context: Path
    dockerfile: Path
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    build_args: Mapping[str, str]
    no_cache: bool = False
    cache: CacheMode = "none"
    cache_ref: str = ""  # registry cache: <image>:buildcache
    cache_scope: str = ""  # gha cache: one scope per image, so services do not evict each other
    provenance: ProvenanceMode = "false"
    sbom: bool = False
    sbom_generator: str | None = None  # BuildKit's default: docker/buildkit-syft-scanner
    platforms: tuple[str, ...] = ()
    target: str | None = None
    secrets: tuple[str, ...] = ()  # `--secret` values: id=...,src=<file in the scratch dir>
    repository: str = ""  # where a by-digest push goes
    extra_flags: tuple[str, ...] = field(default_factory=tuple)


def has_gha_cache_runtime(env: Mapping[str, str]) -> bool:
    """True when the cache service's token is in the environment.

    NOTE: GitHub gives ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL only to JavaScript
    actions; a composite action's `run:` step sees them only if an earlier step exported
    them (crazy-max/ghaction-github-runtime does exactly that).
    """
    return bool(env.get("ACTIONS_RUNTIME_TOKEN")) and bool(
        env.get("ACTIONS_CACHE_URL") or env.get("ACTIONS_RESULTS_URL")
    )


def resolve_cache(
    requested: CacheMode, builder: Builder, env: Mapping[str, str], pushing: bool
) -> tuple[CacheMode, str | None]:
    """The cache actually used, and a note when it differs from the request."""
    if builder == "docker":
        if requested in ("gha", "registry"):
            return "none", (
                f"cache={requested} needs docker buildx; using the engine's layer cache"
            )
        return "none", None
    if requested == "gha" and not has_gha_cache_runtime(env):
        raise InputError(
            "cache",
            "type=gha cache needs ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL, which GitHub "
            "gives only to JavaScript actions",
            fix="add `uses: crazy-max/ghaction-github-runtime@v3` (pinned by SHA) before "
            "this step, or use cache: registry",
            docs="build-push#inputs-and-outputs",
        )
    if requested == "auto":
        if has_gha_cache_runtime(env):
            return "gha", None
        return ("registry", None) if pushing else ("none", None)
    return requested, None


def _common_flags(request: BuildRequest, *, tagged: bool = True) -> list[str]:
    flags = ["--file", str(request.dockerfile)]
    for tag in request.tags if tagged else ():
        flags += ["--tag", tag]
    for key, value in request.labels.items():
        flags += ["--label", f"{key}={value}"]
    for key, value in request.build_args.items():
        flags += ["--build-arg", f"{key}={value}"]
    if request.no_cache:
        flags.append("--no-cache")
    if request.platforms:
        flags += ["--platform", ",".join(request.platforms)]
    if request.target:
        flags += ["--target", request.target]
    for secret in request.secrets:
        flags += ["--secret", secret]
    return flags + list(request.extra_flags)


def buildx_command(
    cli: DockerCli,
    request: BuildRequest,
    *,
    iidfile: Path,
    metadata_file: Path,
    output: BuildxOutput = "load",
) -> list[str]:
    """`docker buildx build ...` for the request.

    `--provenance=false` unless asked for: since buildx 0.10 a pushed image gets a
    provenance attestation by default, an index with an `unknown/unknown` platform entry
    that breaks `docker pull` on older engines and confuses registries' UIs.
    """
    # By digest, no --tag: the tags are put on the digest once it passed the checks.
    common = _common_flags(request, tagged=output != "digest")
    command = [cli.path, "buildx", "build", "--progress=plain", *common]
    command += ["--iidfile", str(iidfile), "--metadata-file", str(metadata_file)]
    provenance = f"mode={request.provenance}" if request.provenance != "false" else "false"
    command.append(f"--provenance={provenance}")
    if request.sbom:
        generator = f"generator={request.sbom_generator}" if request.sbom_generator else "true"
        command.append(f"--sbom={generator}")
    if request.cache == "gha":
        scope = f",scope={request.cache_scope}" if request.cache_scope else ""
        command += ["--cache-from", f"type=gha{scope}", "--cache-to", f"type=gha,mode=max{scope}"]
    elif request.cache == "registry" and request.cache_ref:
        command += ["--cache-from", f"type=registry,ref={request.cache_ref}"]
        if output != "load":
            command += ["--cache-to", f"type=registry,ref={request.cache_ref},mode=max"]
    if output == "digest":
        command += [
            "--output",
            f"type=image,name={request.repository},push-by-digest=true,"
            "name-canonical=true,push=true",
        ]
    elif output == "load":
        command.append("--load")
    command.append(str(request.context))
    return command


def engine_command(cli: DockerCli, request: BuildRequest, *, iidfile: Path) -> list[str]:
    """`DOCKER_BUILDKIT=1 docker build ...` (the engine's BuildKit, no buildx)."""
    return [
        cli.path,
        "build",
        "--progress=plain",
        *_common_flags(request),
        "--iidfile",
        str(iidfile),
        str(request.context),
    ]


def build_environment(env: Mapping[str, str], docker_config: Path | None) -> dict[str, str]:
    """The CLI's environment: BuildKit on, plain progress, the private client config."""
    environment = {**env, "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain"}
    if docker_config is not None:
        environment["DOCKER_CONFIG"] = str(docker_config)
    return environment


@dataclass(frozen=True)
class BuildOutcome:
    """What a finished build left: the image id and how long it took."""

    image_id: str
    seconds: float


def run_streamed(
    command: list[str],
    env: Mapping[str, str],
    console: Console,
    *,
    title: str,
    timeout_seconds: float,
) -> tuple[int, list[str]]:
    """Run a command, streaming its output into a log group; return (exit code, last lines).

    The process gets its own process group so a timeout stops BuildKit's children too.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    timed_out = threading.Event()
    with console.group(title):
        console.info("$ " + " ".join(command))
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )

        def stop() -> None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout_seconds, stop)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                console.info(line)
            code = process.wait()
        finally:
            timer.cancel()
    if timed_out.is_set():
        raise CheckFailed(
            f"{title} did not finish within {timeout_seconds / 60:.0f} minutes and was stopped",
            fix="raise timeout-minutes, or find the slow step in the build log",
            why="a hung build would otherwise hold the runner until the job's own time limit",
            docs="build-push#inputs-and-outputs",
        )
    return code, list(tail)


def build_failed(code: int, tail: list[str]) -> CheckFailed:
    """The error for a failed build: its first error line, and the log's tail."""
    errors = [line for line in tail if "ERROR" in line or "error:" in line.lower()]
    first = errors[0].strip() if errors else f"exit code {code}"
    return CheckFailed(
        f"docker build failed: {first}",
        why="last lines of the build log:\n\n```\n" + "\n".join(tail) + "\n```",
        fix="reproduce locally with the command at the top of the `docker build` log group",
        docs="build-push#troubleshooting",
    )


def run_build(
    command: list[str],
    env: Mapping[str, str],
    console: Console,
    *,
    iidfile: Path,
    timeout_seconds: float,
) -> BuildOutcome:
    """Run a build command; return the image id, or raise CheckFailed with the log's tail."""
    started = time.monotonic()
    code, tail = run_streamed(
        command, env, console, title="docker build", timeout_seconds=timeout_seconds
    )
    seconds = time.monotonic() - started
    if code != 0:
        raise build_failed(code, tail)
    image_id = iidfile.read_text(encoding="utf-8").strip() if iidfile.exists() else ""
    if not image_id:
        raise CheckFailed("docker build succeeded but wrote no image id (--iidfile)")
    return BuildOutcome(image_id=image_id, seconds=seconds)


def build_by_digest(
    command: list[str],
    env: Mapping[str, str],
    console: Console,
    metadata_file: Path,
    timeout_seconds: float,
) -> str:
    """Run a `buildx build` that pushes by digest (or only builds); return the digest or "".

    A registry error that is worth retrying raises RegistryError (TRANSIENT); any other
    failure is the build's: CheckFailed with the log's tail.
    """
    code, tail = run_streamed(
        command, env, console, title="docker buildx build", timeout_seconds=timeout_seconds
    )
    if code != 0:
        errors = [line for line in tail if "ERROR" in line] or tail[-1:]
        last = errors[-1] if errors else f"exit {code}"
        if classify_error(last) is RegistryErrorKind.TRANSIENT:
            raise RegistryError(last, RegistryErrorKind.TRANSIENT)
        raise build_failed(code, tail)
    if not metadata_file.exists():
        return ""
    metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    return str(metadata.get("containerimage.digest", ""))


def engine_platform(attrs: Mapping[str, object]) -> str:
    """`os/arch[/variant]` of an image the engine holds (from `docker image inspect`)."""
    platform = f"{attrs.get('Os', 'linux')}/{attrs.get('Architecture', 'amd64')}"
    return f"{platform}/{attrs['Variant']}" if attrs.get("Variant") else platform


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A private temporary directory (0700) for iid/metadata files and a client config."""
    return tempfile.TemporaryDirectory(prefix="fastapi-ci-build-")
