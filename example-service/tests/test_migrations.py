"""Alembic migrations: up and down on a fresh database, N-1 safety, offline SQL, errors."""

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Callable
from typing import TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, pool, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import Base
from tests import SERVICE_DIR
from tests.conftest import MakeDatabase, alembic

T = TypeVar("T")


@pytest.fixture
def fresh_url(make_database: MakeDatabase) -> str:
    """An empty database of its own for each migration test."""
    return make_database()


def on_database(url: str, work: Callable[[Connection], T], *, autocommit: bool = False) -> T:
    """Run ``work`` on a connection to ``url``, in one committed transaction (or autocommit)."""

    async def run() -> T:
        options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
        engine = create_async_engine(url, poolclass=pool.NullPool, **options)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    # Sync tests: alembic's env.py runs its own event loop, so these tests cannot be async.
    return asyncio.run(run())


def table_names(url: str) -> set[str]:
    """Tables in the database."""
    return set(on_database(url, lambda c: inspect(c).get_table_names()))


def test_upgrade_head_then_downgrade_base_round_trips(fresh_url: str) -> None:
    alembic(fresh_url, "upgrade", "head")
    assert "items" in table_names(fresh_url)

    alembic(fresh_url, "downgrade", "base")
    assert "items" not in table_names(fresh_url)

    alembic(fresh_url, "upgrade", "head")
    assert "items" in table_names(fresh_url)


def test_head_matches_the_models(fresh_url: str) -> None:
    alembic(fresh_url, "upgrade", "head")

    diff = on_database(
        fresh_url, lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
    )

    assert diff == []


def test_rows_written_by_the_previous_release_survive_0002_and_its_downgrade(
    fresh_url: str,
) -> None:
    def insert(name: str) -> Callable[[Connection], object]:
        # What the previous release does: an INSERT that knows nothing of updated_at.
        sql = text("INSERT INTO items (name, price) VALUES (:name, 1.50)")
        return lambda c: c.execute(sql, {"name": name})

    def select(columns: str) -> Callable[[Connection], list[tuple[object, ...]]]:
        sql = text(f"SELECT {columns} FROM items ORDER BY id")  # noqa: S608 - test literals
        return lambda c: [tuple(row) for row in c.execute(sql)]

    alembic(fresh_url, "upgrade", "0001")
    on_database(fresh_url, insert("old"))

    alembic(fresh_url, "upgrade", "0002")
    on_database(fresh_url, insert("n-1"))
    assert on_database(fresh_url, select("name, updated_at")) == [("old", None), ("n-1", None)]

    alembic(fresh_url, "downgrade", "0001")
    assert on_database(fresh_url, select("name")) == [("old",), ("n-1",)]


def index_state(url: str, name: str) -> tuple[bool, bool]:
    """(exists, valid) of index ``name``: PostgreSQL's ``indisvalid``; SQLite's are valid."""

    def look(connection: Connection) -> tuple[bool, bool]:
        if connection.dialect.name != "postgresql":
            found = name in {ix["name"] for ix in inspect(connection).get_indexes("items")}
            return found, found
        sql = text(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = :name"
        )
        valid = connection.execute(sql, {"name": name}).scalar()
        return valid is not None, bool(valid)

    return on_database(url, look)


def test_0003_builds_a_valid_index_and_its_downgrade_drops_it(fresh_url: str) -> None:
    alembic(fresh_url, "upgrade", "0002")
    assert index_state(fresh_url, "ix_items_created_at") == (False, False)

    alembic(fresh_url, "upgrade", "0003")
    assert index_state(fresh_url, "ix_items_created_at") == (True, True)

    alembic(fresh_url, "downgrade", "0002")
    assert index_state(fresh_url, "ix_items_created_at") == (False, False)
    assert index_state(fresh_url, "ix_items_name") == (True, True)


def test_0003_rebuilds_an_index_left_invalid_by_an_interrupted_build(fresh_url: str) -> None:
    if not fresh_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL builds indexes CONCURRENTLY (and can leave them INVALID)")
    alembic(fresh_url, "upgrade", "0002")
    # A CREATE INDEX CONCURRENTLY that fails half-way leaves its index behind, INVALID.
    on_database(
        fresh_url,
        lambda c: c.execute(
            text(
                "INSERT INTO items (name, price, created_at) VALUES "
                "('a', 1, '2026-01-01T00:00:00Z'), ('b', 2, '2026-01-01T00:00:00Z')"
            )
        ),
    )
    with pytest.raises(DBAPIError, match="could not create unique index"):
        on_database(
            fresh_url,
            lambda c: c.execute(
                text("CREATE UNIQUE INDEX CONCURRENTLY ix_items_created_at ON items (created_at)")
            ),
            autocommit=True,
        )
    assert index_state(fresh_url, "ix_items_created_at") == (True, False)

    alembic(fresh_url, "upgrade", "0003")

    assert index_state(fresh_url, "ix_items_created_at") == (True, True)


@pytest.mark.parametrize(
    ("url", "create_table", "create_index"),
    [
        (
            "postgresql://u:p@db.invalid/app",
            "id SERIAL NOT NULL",
            "CREATE INDEX CONCURRENTLY ix_items_created_at ON items (created_at)",
        ),
        (
            "sqlite:///app.db",
            "id INTEGER NOT NULL",
            "CREATE INDEX ix_items_created_at ON items (created_at)",
        ),
    ],
)
def test_offline_mode_prints_sql_without_connecting(
    monkeypatch: pytest.MonkeyPatch, url: str, create_table: str, create_index: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    output = io.StringIO()

    config = Config(str(SERVICE_DIR / "alembic.ini"), output_buffer=output)

    command.upgrade(config, "head", sql=True)

    sql = output.getvalue()
    assert "CREATE TABLE items" in sql
    assert create_table in sql
    assert "CREATE INDEX ix_items_name ON items (name)" in sql
    assert create_index in sql
    assert "UPDATE alembic_version SET version_num='0003'" in sql


def test_bad_database_url_is_a_command_error_naming_it() -> None:
    with pytest.raises(CommandError, match=r"^invalid configuration: DATABASE_URL has unsupported"):
        alembic("mysql://u:p@db/app", "upgrade", "head")


def test_unreachable_database_is_a_command_error() -> None:
    with pytest.raises(CommandError, match=r"^cannot connect to the database: connection refused$"):
        alembic("postgresql://u:p@127.0.0.1:1/x", "upgrade", "head")


def test_alembic_cli_prints_failed_without_traceback_on_bad_database_url() -> None:
    env = {**os.environ, "DATABASE_URL": "foo"}
    alembic_cli = [sys.executable, "-m", "alembic", "upgrade", "head"]

    done = subprocess.run(alembic_cli, cwd=SERVICE_DIR, env=env, capture_output=True, text=True)

    assert done.returncode == 255  # alembic exits with -1 on a CommandError
    assert done.stdout.startswith("FAILED: invalid configuration: DATABASE_URL is not a valid")
    assert "Traceback" not in done.stdout + done.stderr
