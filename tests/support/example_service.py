"""The example service run from its own virtualenv (tests/conftest.py's `example_python`):
its alembic, its environment, and waiting for it to answer.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.components import EXAMPLE_SERVICE


def wait_for_http(url: str, timeout: float = 30.0) -> httpx.Response:
    """Poll `url` until it answers at all (any status), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError as error:
            last_error = error
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s: {last_error}")


def example_env(python: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment the example service runs with in these tests."""
    return {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": database_url,
        **extra,
    }


def alembic(python: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the example service's alembic (from its own venv) against `database_url`."""
    return subprocess.run(
        [str(python), "-m", "alembic", *args],
        cwd=EXAMPLE_SERVICE,
        env=example_env(python, database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class RunningService:
    """`python -m app` started from the example's venv, on a free loopback port."""

    process: subprocess.Popen[str]
    base_url: str


def head_revision(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else ""


def example_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(EXAMPLE_SERVICE / "alembic.ini"))
    config.set_main_option("script_location", str(EXAMPLE_SERVICE / "app" / "alembic"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head
    return head
