"""JSON log lines and the request-id middleware."""

import json
import logging
import sys
import uuid

import pytest
from fastapi import FastAPI
from gunicorn.config import Config as GunicornConfig
from httpx import ASGITransport, AsyncClient
from starlette.types import Message, Receive, Scope, Send

from app.core.logging import (
    GunicornLogger,
    JsonFormatter,
    RequestContextMiddleware,
    configure_logging,
    request_id_var,
)


def record(message: str = "hello %s", **extra: object) -> logging.LogRecord:
    """A log record as ``logger.info(message, "world", extra=extra)`` would make it."""
    rec = logging.makeLogRecord(
        {"name": "app.test", "levelno": logging.INFO, "levelname": "INFO", "msg": message}
    )
    rec.args = ("world",)
    rec.__dict__.update(extra)
    return rec


def test_formatter_writes_one_json_object_with_the_extras() -> None:
    line = JsonFormatter().format(record(status=201, duration_ms=1.5))

    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "INFO"
    assert entry["logger"] == "app.test"
    assert entry["message"] == "hello world"
    assert entry["status"] == 201
    assert entry["duration_ms"] == 1.5
    assert entry["time"].endswith("+00:00")
    assert "request_id" not in entry


def test_formatter_adds_the_current_request_id_and_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record()
        rec.exc_info = sys.exc_info()
    token = request_id_var.set("req-1")
    try:
        entry = json.loads(JsonFormatter().format(rec))
    finally:
        request_id_var.reset(token)

    assert entry["request_id"] == "req-1"
    assert "ValueError: boom" in entry["exc_info"]


def test_configure_logging_installs_one_json_handler_and_routes_server_loggers() -> None:
    configure_logging("INFO")
    configure_logging("DEBUG")

    root = logging.getLogger()
    json_handlers = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(json_handlers) == 1
    assert root.level == logging.DEBUG
    for name in ("gunicorn.error", "uvicorn.error"):
        assert logging.getLogger(name).handlers == []
        assert logging.getLogger(name).propagate
    assert logging.getLogger("uvicorn.access").disabled


def test_gunicorn_logger_writes_through_the_json_handler() -> None:
    GunicornLogger(GunicornConfig())

    error_log = logging.getLogger("gunicorn.error")
    assert error_log.handlers == []
    assert error_log.propagate


async def test_sane_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123.x:y_z"})

    assert response.headers["X-Request-ID"] == "abc-123.x:y_z"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "new\\nline", "x" * 129, "<script>"])
async def test_missing_or_odd_request_id_is_replaced_by_a_uuid4(
    client: AsyncClient, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}

    response = await client.get("/health/live", headers=headers)

    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4


async def test_each_request_is_logged_with_method_path_status_and_duration(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.request"):
        await client.get("/api/v1/items/999999", headers={"X-Request-ID": "req-42"})

    [rec] = [r for r in caplog.records if r.name == "app.request"]
    entry = json.loads(JsonFormatter().format(rec))
    assert entry["message"] == "GET /api/v1/items/999999 404"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/v1/items/999999", 404)
    assert isinstance(entry["duration_ms"], float)


async def test_unhandled_error_is_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.INFO, logger="app.request"):
        async with AsyncClient(transport=transport, base_url="http://test") as c:
            response = await c.get("/boom")

    assert response.status_code == 500
    [rec] = [r for r in caplog.records if r.name == "app.request"]
    assert rec.levelno == logging.ERROR
    assert rec.__dict__["status"] == 500


async def test_non_http_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    await RequestContextMiddleware(inner)({"type": "lifespan"}, receive, send)

    assert seen == ["lifespan"]
