"""What the tests know about the real components: where they are and how to say they are missing."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
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
