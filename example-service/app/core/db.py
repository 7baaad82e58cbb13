"""Async SQLAlchemy engine, sessions and the database probe behind readiness."""

import asyncio

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the engine; no connection is opened until the first query."""
    # pool_pre_ping replaces connections that died while the database was away,
    # so the service recovers by itself once the database is back.
    return create_async_engine(settings.DATABASE_URL, pool_pre_ping=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


# Timed-out probes still closing their connection; referenced so they are not collected.
_closing: set[asyncio.Task[None]] = set()


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def ping(engine: AsyncEngine, *, within: float) -> None:
    """Run ``SELECT 1``; raise TimeoutError if the database has not answered ``within`` seconds."""
    query = asyncio.create_task(_select_one(engine))
    try:
        await asyncio.wait_for(asyncio.shield(query), within)
    except TimeoutError:
        # Cancelling makes SQLAlchemy discard the stuck connection, which first tries a
        # graceful close (up to 2 s more on a hung server). Don't hold the caller for it.
        query.cancel()
        _closing.add(query)
        query.add_done_callback(_closing.discard)
        raise


def describe_db_error(exc: BaseException) -> str:
    """A short, password-free reason for a failed database call, fit for a probe response."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(cause, ConnectionRefusedError) or "Connect call failed" in str(cause):
        return "connection refused"
    lines = str(cause).strip().splitlines()
    return lines[0][:200] if lines else type(cause).__name__
