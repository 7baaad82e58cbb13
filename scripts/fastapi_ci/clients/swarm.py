"""Docker Swarm's service API, as the engine exposes it: its timestamps and which of its
errors are worth a retry (the calls go through `docker_engine.Engine`'s SDK client)."""

from __future__ import annotations

from datetime import datetime

from fastapi_ci.clients.registry import RegistryError, RegistryErrorKind, classify_error
from fastapi_ci.retry import RetryPolicy

API_RETRY = RetryPolicy(attempts=5, initial_delay=0.5, max_delay=5.0, deadline_seconds=60.0)


def parse_timestamp(text: str | None) -> float | None:
    """Swarm's RFC 3339 time with nanoseconds ("2026-11-24T21:58:01.123456789Z") as epoch."""
    if not text or text.startswith("0001-"):
        return None
    head, _, rest = text.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6].ljust(6, "0")
    zone = "+00:00" if text.endswith("Z") else ""
    try:
        return datetime.fromisoformat(f"{head}.{fraction}{zone}").timestamp()
    except ValueError:
        return None


def is_transient(error: BaseException) -> bool:
    """A 5xx or a dropped connection: the engine may answer the same call a moment later."""
    import docker.errors
    import requests.exceptions

    if isinstance(error, RegistryError):
        return error.kind is RegistryErrorKind.TRANSIENT
    if isinstance(error, docker.errors.APIError):
        # The engine reports a registry's refusal ("no basic auth credentials", "denied") as
        # a 500 of its own: the same credentials get the same answer, so no retry.
        if classify_error(str(error.explanation or error)) is RegistryErrorKind.AUTH:
            return False
        # "update out of sequence": someone updated the service between our read and write.
        return error.is_server_error() or "out of sequence" in str(error)
    return isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout)
