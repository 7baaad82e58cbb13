"""What the tests know about the real components: where they are and how to say they are missing."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SERVICE = REPO_ROOT / "example-service"


def free_port() -> int:
    """A TCP port nobody listens on right now (on the loopback interface)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def component_missing(component: str, reason: str) -> NoReturn:
    """Skip locally; fail under CI=true, where every component must be there."""
    message = f"{component} is not available: {reason} (start it with `bash .ci/services.sh`)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Registry:
    """The local distribution registry with htpasswd auth."""

    host: str
    username: str
    password: str


@dataclass(frozen=True)
class BuildKit:
    """The standalone buildkitd of `.ci/buildkit.sh` and the buildx builder joined to it."""

    address: str
    buildx_config: str
    builder: str
    platforms: tuple[str, ...]
    base_image: str
    """The stand-in base in the registry: one manifest list, an image per platform."""

    def buildx_env(self) -> dict[str, str]:
        """What makes `docker buildx`, whatever its DOCKER_CONFIG, build with this builder."""
        return {"BUILDX_CONFIG": self.buildx_config, "BUILDX_BUILDER": self.builder}


QEMU_AARCH64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def find_buildkit(docker_cli: list[str], registry: Registry) -> BuildKit:
    """BuildKit as `.ci/services.sh` exports it, each part checked (or `component_missing`)."""
    import httpx

    found = BuildKit(
        address=os.environ.get("FASTAPI_CI_BUILDKIT", "unix:///run/fastapi-ci/buildkitd.sock"),
        buildx_config=os.environ.get("FASTAPI_CI_BUILDX_CONFIG", "/var/lib/fastapi-ci/buildx"),
        builder=os.environ.get("FASTAPI_CI_BUILDX_BUILDER", "fastapi-ci-buildkit"),
        platforms=tuple(
            os.environ.get("FASTAPI_CI_BUILDKIT_PLATFORMS", "linux/amd64,linux/arm64").split(",")
        ),
        base_image=os.environ.get(
            "FASTAPI_CI_BASE_IMAGE_MULTIARCH", f"{registry.host}/fastapi-ci/python-standin:3.11"
        ),
    )
    # The F flag: the kernel opens QEMU at registration, so it runs inside containers too.
    entry = QEMU_AARCH64.read_text().splitlines() if QEMU_AARCH64.exists() else []
    flags = next((line.removeprefix("flags: ") for line in entry if line.startswith("flags: ")), "")
    if entry[:1] != ["enabled"] or "F" not in flags:
        component_missing("buildkit", f"QEMU: {QEMU_AARCH64} is not an enabled entry with flag F")
    inspect = subprocess.run(
        [*docker_cli, "buildx", "inspect", "--bootstrap", found.builder],
        env={**os.environ, **found.buildx_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if inspect.returncode != 0:
        component_missing("buildkit", f"buildx builder {found.builder}: {inspect.stderr.strip()}")
    offered = {
        platform.strip().removesuffix("*")
        for line in inspect.stdout.splitlines()
        if line.startswith("Platforms:")
        for platform in line.removeprefix("Platforms:").split(",")
    }
    if missing := set(found.platforms) - offered:
        component_missing("buildkit", f"builder {found.builder} lacks {sorted(missing)}")
    host, _, rest = found.base_image.partition("/")
    repository, _, tag = rest.rpartition(":")
    try:
        listed = httpx.get(
            f"http://{host}/v2/{repository}/manifests/{tag}",
            auth=(registry.username, registry.password),
            headers={"Accept": "application/vnd.docker.distribution.manifest.list.v2+json"},
            timeout=10,
        )
    except httpx.HTTPError as error:
        component_missing("buildkit", f"multi-platform base {found.base_image}: {error}")
    platforms = {
        f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        for entry in (listed.json().get("manifests", []) if listed.status_code == 200 else [])
    }
    if missing := set(found.platforms) - platforms:
        component_missing("buildkit", f"{found.base_image} lists no image for {sorted(missing)}")
    return found


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server reachable with a superuser URL (plain `postgresql://` form)."""

    url: str

    def database_url(self, database: str) -> str:
        """The URL of another database on the same server."""
        return self.url.rsplit("/", 1)[0] + "/" + database


@contextmanager
def throwaway_database(postgres: Postgres, label: str) -> Iterator[str]:
    """A new, empty database on the shared server (a unique name), dropped afterwards."""
    import psycopg

    # A random suffix: other sessions run the same tests on the same server at the same time.
    clean = "".join(c if c.isalnum() else "_" for c in label.lower())[:48]
    name = f"t_{clean}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.database_url(name)
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_settings(url: str) -> dict[str, str]:
    """The POSTGRES_* variables of the full-stack template pointing at the database `url`."""
    parts = urlsplit(url)
    return {
        "POSTGRES_SERVER": parts.hostname or "",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_DB": parts.path.lstrip("/"),
    }


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class DisposablePostgres:
    """A PostgreSQL cluster of one test's own, which the test may stop."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir),
             *args],
            check=check,
            capture_output=True,
            timeout=60,
        )  # fmt: skip

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "immediate")
