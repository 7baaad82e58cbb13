"""The Docker engine: which client can build, and the engine API for images, login and push.

Builds run through a docker CLI (BuildKit's output and flags are the CLI's); everything
else goes through the engine API with the `docker` SDK, so credentials travel as
`X-Registry-Auth` headers and are never written to a `config.json`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi_ci.clients.registry import (
    RegistryCredentials,
    RegistryError,
    RegistryErrorKind,
    classify_error,
)
from fastapi_ci.errors import CheckFailed

# Debian's 20.10 client has BuildKit built in (DOCKER_BUILDKIT=1); from 23.0 on, a client
# needs the buildx plugin for BuildKit, and without it falls back to the legacy builder.
BUILTIN_BUILDKIT_BEFORE_MAJOR = 23
DEBIAN_CLIENT = "/usr/bin/docker"


@dataclass(frozen=True)
class DockerCli:
    """A docker client binary and what it can build with."""

    path: str
    version: str
    has_buildx: bool

    @property
    def builtin_buildkit(self) -> bool:
        """True when `DOCKER_BUILDKIT=1 docker build` uses BuildKit without the buildx plugin."""
        try:
            return int(self.version.split(".")[0]) < BUILTIN_BUILDKIT_BEFORE_MAJOR
        except ValueError:
            return False


def _probe(client: str, *args: str, env: Mapping[str, str]) -> str | None:
    try:
        done = subprocess.run(
            [client, *args], capture_output=True, text=True, timeout=30, check=False, env=dict(env)
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def candidate_clients(env: Mapping[str, str]) -> list[str]:
    """Docker clients to consider, best first: `FASTAPI_CI_DOCKER`, PATH's, Debian's."""
    found = [env.get("FASTAPI_CI_DOCKER", ""), shutil.which("docker", path=env.get("PATH")) or ""]
    found.append(DEBIAN_CLIENT if os.path.exists(DEBIAN_CLIENT) else "")
    return list(dict.fromkeys(path for path in found if path))


def find_docker_cli(env: Mapping[str, str]) -> DockerCli:
    """The client to build with: the first with buildx, else the first with built-in BuildKit.

    Raises CheckFailed when no client can do a BuildKit build (multi-stage cache, `--mount`).
    """
    seen: list[DockerCli] = []
    for path in candidate_clients(env):
        version = _probe(path, "version", "--format", "{{.Client.Version}}", env=env)
        if version is None:
            continue
        cli = DockerCli(
            path=path,
            version=version,
            has_buildx=_probe(path, "buildx", "version", env=env) is not None,
        )
        if cli.has_buildx:
            return cli
        seen.append(cli)
    for cli in seen:
        if cli.builtin_buildkit:
            return cli
    tried = ", ".join(f"{c.path} {c.version}" for c in seen) or "none found"
    raise CheckFailed(
        "no docker client that can build with BuildKit",
        why=f"clients tried: {tried}; a client from 23.0 on needs the buildx plugin",
        fix="install docker buildx (docker/setup-buildx-action on GitHub), or set "
        "FASTAPI_CI_DOCKER to a client that has it",
        docs="build-push#troubleshooting",
    )


class Engine:
    """The Docker engine API (via the SDK), for what builds leave behind and for pushes."""

    def __init__(self, env: Mapping[str, str], timeout: int = 600) -> None:
        # NOTE: imported here, not at the top: the SDK costs ~0.2 s, and every fastapi-ci
        # command (most never touch the engine API) would pay it at start-up.
        import docker

        try:
            self.client = docker.DockerClient.from_env(environment=dict(env), timeout=timeout)
            self.client.ping()
        except docker.errors.DockerException as error:
            raise CheckFailed(
                f"cannot reach the Docker engine: {error}",
                fix="start dockerd, or set DOCKER_HOST to the engine's socket",
                why="builds, and Swarm rollouts and migrations, run in the engine the job reaches",
            ) from None

    def image_attrs(self, image: str) -> dict[str, Any]:
        """`docker image inspect` of one image."""
        attrs: dict[str, Any] = self.client.api.inspect_image(image)
        return attrs

    def image_size(self, image: str) -> int:
        """Uncompressed size in bytes, as `docker image ls` shows it."""
        return int(self.image_attrs(image)["Size"])

    def history(self, image: str) -> list[dict[str, Any]]:
        """`docker history --no-trunc`: one entry per layer, newest first (Size, CreatedBy)."""
        entries: list[dict[str, Any]] = self.client.api.history(image)
        return entries

    def login(self, credentials: RegistryCredentials) -> None:
        """Check the credentials against the registry (the engine's /auth), nothing stored.

        Raises RegistryError with the kind of failure (AUTH is never worth a retry).
        """
        import docker.errors

        try:
            self.client.api.login(
                username=credentials.username,
                password=credentials.password.get_secret_value(),
                registry=credentials.registry,
                reauth=True,
            )
        except docker.errors.APIError as error:
            message = str(error.explanation or error)
            raise RegistryError(message, classify_error(message)) from None

    def push_events(
        self, repository: str, tag: str, credentials: RegistryCredentials | None
    ) -> Iterator[dict[str, Any]]:
        """The engine's push progress stream for `repository:tag`, decoded."""
        import docker.errors

        try:
            yield from self.client.api.push(
                repository,
                tag=tag,
                stream=True,
                decode=True,
                auth_config=credentials.auth_config() if credentials else None,
            )
        except docker.errors.APIError as error:
            message = str(error.explanation or error)
            raise RegistryError(message, classify_error(message)) from None
        except (docker.errors.DockerException, ConnectionError, OSError) as error:
            # The engine itself dropped the stream: as transient as a registry hiccup.
            raise RegistryError(str(error), RegistryErrorKind.TRANSIENT) from None

    def remove_image(self, image: str) -> None:
        """Untag/remove an image, ignoring one that is already gone."""
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_image(image, force=True)


@dataclass(frozen=True)
class PushOutcome:
    """What a push stream ended with."""

    digest: str | None
    size: int | None


def read_push_stream(events: Iterable[dict[str, Any]]) -> PushOutcome:
    """Follow a push stream to its end; raise RegistryError on the error event it may carry.

    The engine reports a failed push as a normal event with `error`/`errorDetail` (the HTTP
    call itself succeeded), so the stream must be read to the end to know the outcome.
    """
    digest: str | None = None
    size: int | None = None
    for event in events:
        error = event.get("errorDetail", {}).get("message") or event.get("error")
        if error:
            raise RegistryError(str(error), classify_error(str(error)))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
            size = int(aux["Size"]) if aux.get("Size") is not None else None
    return PushOutcome(digest=digest, size=size)


def user_docker_config_dir(env: Mapping[str, str]) -> Path:
    """Where the docker CLI keeps its config for this environment."""
    return Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME", "~")).expanduser() / ".docker")


@contextmanager
def private_docker_config(
    credentials: RegistryCredentials | None, env: Mapping[str, str]
) -> Iterator[Path]:
    """A throw-away DOCKER_CONFIG for CLI runs (buildx push, registry cache) with our login.

    The user's logins and credential helpers are carried over, and the buildx plugin and
    builder instances linked in (setup-buildx-action keeps them there), but the password
    from the inputs is only ever written to this 0700 directory, deleted afterwards: never
    to the user's ~/.docker/config.json.
    """
    source = user_docker_config_dir(env)
    with tempfile.TemporaryDirectory(prefix="fastapi-ci-docker-config-") as directory:
        target = Path(directory)
        config: dict[str, Any] = {}
        try:
            config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            config = {}
        if credentials is not None:
            pair = f"{credentials.username}:{credentials.password.get_secret_value()}"
            config.setdefault("auths", {})[credentials.registry] = {
                "auth": base64.b64encode(pair.encode()).decode()
            }
            # A credential store or helper would shadow the auths entry for this host; the
            # trade-off is that this one CLI run does not see logins kept in the store.
            config.pop("credsStore", None)
            config.get("credHelpers", {}).pop(credentials.registry, None)
        config_file = target / "config.json"
        config_file.touch(mode=0o600)
        config_file.write_text(json.dumps(config), encoding="utf-8")
        for shared in ("cli-plugins", "buildx", "contexts"):
            if (source / shared).exists():
                (target / shared).symlink_to(source / shared)
        yield target
