"""Liveness and readiness probes."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.main import create_app

REFUSING_DATABASE = "postgresql+asyncpg://u:p@127.0.0.1:1/x"


async def probe(settings: Settings, path: str) -> tuple[int, object]:
    """GET ``path`` on a fresh app built from ``settings``."""
    app = create_app(settings)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            response = await c.get(path)
        return response.status_code, response.json()
    finally:
        await app.state.engine.dispose()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers, like a hung database."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_live_is_ok(client: AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_live_does_not_touch_the_database() -> None:
    assert await probe(Settings(DATABASE_URL=REFUSING_DATABASE), "/health/live") == (
        200,
        {"status": "ok"},
    )


async def test_ready_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_ready_is_503_with_a_reason_when_the_database_refuses_connections() -> None:
    status, body = await probe(Settings(DATABASE_URL=REFUSING_DATABASE), "/health/ready")

    assert status == 503
    assert body == {"status": "unavailable", "reason": "database unreachable: connection refused"}


async def test_ready_is_503_within_the_timeout_when_the_database_hangs(silent_port: int) -> None:
    settings = Settings(
        DATABASE_URL=f"postgresql://u:p@127.0.0.1:{silent_port}/x",
        READINESS_TIMEOUT_SECONDS=0.3,
    )
    started = time.monotonic()

    status, body = await probe(settings, "/health/ready")

    assert time.monotonic() - started < 2
    assert status == 503
    assert body == {"status": "unavailable", "reason": "database did not answer within 0.3s"}


async def test_ready_recovers_when_the_database_comes_back(tmp_path: Path) -> None:
    database_dir = tmp_path / "not-yet"
    app = create_app(Settings(DATABASE_URL=f"sqlite+aiosqlite:///{database_dir / 'app.db'}"))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        down = await client.get("/health/ready")
        database_dir.mkdir()
        up = await client.get("/health/ready")
    await app.state.engine.dispose()

    assert down.status_code == 503
    assert down.json()["reason"].startswith("database unreachable: ")
    assert up.status_code == 200
