"""The example service, run for real: migrations on PostgreSQL, deep readiness, its own suite."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from tests.support.components import EXAMPLE_SERVICE, DisposablePostgres
from tests.support.example_service import (
    RunningService,
    alembic,
    example_env,
)


def tables(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_migrations_go_up_to_head_and_back_down_on_postgresql(
    example_python: Path, fresh_database: str
) -> None:
    upgrade = alembic(example_python, fresh_database, "upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    assert {"items", "alembic_version"} <= tables(fresh_database)
    heads = alembic(example_python, fresh_database, "heads")
    current = alembic(example_python, fresh_database, "current")
    assert heads.stdout.split()[0] in current.stdout

    downgrade = alembic(example_python, fresh_database, "downgrade", "base")
    assert downgrade.returncode == 0, downgrade.stderr
    assert "items" not in tables(fresh_database)


def test_every_revision_downgrades_one_step_at_a_time(
    example_python: Path, fresh_database: str
) -> None:
    assert alembic(example_python, fresh_database, "upgrade", "head").returncode == 0
    history = alembic(example_python, fresh_database, "history").stdout.strip().splitlines()
    assert len(history) >= 2, "the example service needs at least two revisions"
    for _ in history:
        step = alembic(example_python, fresh_database, "downgrade", "-1")
        assert step.returncode == 0, step.stderr
    assert "items" not in tables(fresh_database)


def test_readiness_is_200_with_the_database_and_503_with_a_reason_without_it(
    example_python: Path,
    disposable_postgres: DisposablePostgres,
    start_service: Callable[[str], RunningService],
) -> None:
    assert alembic(example_python, disposable_postgres.url, "upgrade", "head").returncode == 0
    service = start_service(disposable_postgres.url)

    ready = httpx.get(f"{service.base_url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    created = httpx.post(
        f"{service.base_url}/api/v1/items", json={"name": "widget", "price": 3}, timeout=10
    )
    assert created.status_code == 201, created.text

    disposable_postgres.stop()
    not_ready = httpx.get(f"{service.base_url}/health/ready", timeout=15)
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert body["status"] != "ready"
    assert "database" in body["reason"].lower()
    # The process itself is still up: liveness must not depend on the database.
    assert httpx.get(f"{service.base_url}/health/live", timeout=5).status_code == 200


def test_bad_database_url_is_one_clear_line_not_a_traceback(example_python: Path) -> None:
    for bad_url in ("mysql://user:pw@127.0.0.1/db", "not a url"):
        started = subprocess.run(
            [str(example_python), "-m", "app"],
            cwd=EXAMPLE_SERVICE,
            env=example_env(example_python, bad_url, PORT="1"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output = started.stdout + started.stderr
        assert started.returncode == 2, output
        assert "DATABASE_URL" in output
        assert "Traceback" not in output

        migrated = alembic(example_python, bad_url, "upgrade", "head")
        output = migrated.stdout + migrated.stderr
        assert migrated.returncode != 0
        assert "DATABASE_URL" in output
        assert "Traceback" not in output


def run_example_suite(python: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """The example service's own pytest suite, from its venv, against `database_url`."""
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE_SERVICE,
        env=example_env(python, database_url, TEST_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_example_suite_passes_on_postgresql(example_python: Path, fresh_database: str) -> None:
    suite = run_example_suite(example_python, fresh_database)
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout


def test_example_suite_passes_on_sqlite(example_python: Path, tmp_path: Path) -> None:
    suite = run_example_suite(example_python, f"sqlite+aiosqlite:///{tmp_path}/suite.db")
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout
