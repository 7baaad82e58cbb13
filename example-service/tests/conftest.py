"""Fixtures: fresh migrated databases (SQLite, or PostgreSQL from TEST_DATABASE_URL) and a client.

With TEST_DATABASE_URL (or DATABASE_URL) pointing at PostgreSQL, every database the suite
uses is a throwaway one created beside the given database and dropped at the end; the
given database itself is never written to. Otherwise the suite uses SQLite files in tmp.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import URL, make_url, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings, get_settings, normalize_database_url
from app.main import create_app
from app.models import Base
from tests import SERVICE_DIR

MakeDatabase = Callable[[], str]


def alembic(database_url: str, action: str, revision: str, **kwargs: object) -> None:
    """Run ``alembic <action> <revision>`` in-process against ``database_url``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", database_url)
        getattr(command, action)(Config(str(SERVICE_DIR / "alembic.ini")), revision, **kwargs)


async def _execute_autocommit(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> URL | None:
    """The PostgreSQL server to test against, or None for SQLite."""
    raw = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not raw:
        return None
    url = make_url(normalize_database_url(raw))
    return url if url.get_backend_name() == "postgresql" else None


@pytest.fixture(scope="session")
def make_database(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: URL | None
) -> Iterator[MakeDatabase]:
    """A factory of fresh, empty databases; the PostgreSQL ones are dropped at the end."""
    created: list[str] = []

    def make() -> str:
        if postgres_url is None:
            return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        name = f"example_service_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_execute_autocommit(postgres_url, f'CREATE DATABASE "{name}"'))
        created.append(name)
        return postgres_url.set(database=name).render_as_string(hide_password=False)

    yield make
    for name in created:
        assert postgres_url is not None
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        asyncio.run(_execute_autocommit(postgres_url, drop))


@pytest.fixture(scope="session")
def database_url(make_database: MakeDatabase) -> str:
    """The suite's shared database, migrated to head once."""
    url = make_database()
    alembic(url, "upgrade", "head")
    return url


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the developer's or CI's environment out of Settings()."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings pointing at the test database."""
    return Settings(DATABASE_URL=database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application; every table is emptied after the test."""
    application = create_app(settings)
    yield application
    engine = application.state.engine
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
    await engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """An HTTP client talking to ``app`` in-process."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
