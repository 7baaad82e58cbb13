"""Deep readiness: after the orchestrator says done, ask the service itself.

An orchestrator's "complete" only means the containers started (and, at best, that a
liveness probe answered). The service is ready when its readiness endpoint, which touches
the database, answers 2xx with a ready body N times in a row.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx is imported when a probe runs, not when the CLI starts
    import httpx

# A readiness answer is a few bytes of JSON; more is read as "not ready", never inflated.
MAX_BODY_BYTES = 64 * 1024

# Bodies that say "not ready" even with a 2xx status (a probe written to never fail).
NOT_READY_STATUSES = frozenset(
    {"not ready", "not_ready", "unready", "unavailable", "down", "fail", "error"}
)


@dataclass(frozen=True)
class ReadinessPolicy:
    """How hard to check: `successes` consecutive good answers, each within `request_timeout`.

    Between probes the wait starts at `interval` and doubles after each failure, up to
    `max_interval`, so a slow-starting service is not hammered; a success resets it.
    `failures` consecutive failures end the wait early (0: only the deadline does): the
    orchestrator already sends traffic to the new version, so a version that keeps
    answering "not ready" is failing users now.
    """

    url: str
    successes: int = 3
    failures: int = 0
    interval: float = 0.5
    max_interval: float = 5.0
    request_timeout: float = 3.0


@dataclass(frozen=True)
class Probe:
    """One readiness answer."""

    ready: bool
    detail: str


@dataclass(frozen=True)
class ReadinessResult:
    """The end of a readiness wait."""

    ready: bool
    probes: int
    last_detail: str
    first_failure_at: float | None  # wall clock of the first failed probe, if any


def judge(status: int, body: bytes) -> Probe:
    """Ready means a 2xx status and a body that does not say otherwise."""
    text = body.decode("utf-8", errors="replace").strip()
    if not 200 <= status < 300:
        return Probe(False, f"HTTP {status}: {text[:200]}")
    try:
        document = json.loads(text) if text else None
    except (ValueError, RecursionError):  # RecursionError: `[[[[...` nested past the stack
        document = None
    if isinstance(document, dict):
        declared = str(document.get("status", "")).strip().lower()
        if declared in NOT_READY_STATUSES or document.get("ready") is False:
            return Probe(False, f"HTTP {status} but the body says not ready: {text[:200]}")
    return Probe(True, f"HTTP {status}")


class _TooLarge(Exception):
    """The answer is larger than MAX_BODY_BYTES (before or after decompression)."""


def _capped_body(response: httpx.Response, until: float, clock: Callable[[], float]) -> bytes:
    """The body, read raw and decompressed by us, never past MAX_BODY_BYTES or `until`.

    httpx would inflate a gzip body whole (a 64 KiB bomb is gigabytes); we ask for no
    encoding, and if the server sends one anyway, inflate with an output limit.
    """
    raw = bytearray()
    # A response built in memory (a transport that is no network) has no stream left.
    chunks = [response.content] if response.is_stream_consumed else response.iter_raw()
    for chunk in chunks:
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _TooLarge
        if clock() > until:
            raise _Late
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return bytes(raw)
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return b""  # unreadable, judged on the status alone
    # wbits 47: zlib or gzip, whichever the header says.
    inflater = zlib.decompressobj(wbits=47)
    try:
        body = inflater.decompress(bytes(raw), MAX_BODY_BYTES + 1)
    except zlib.error:
        return b""
    if len(body) > MAX_BODY_BYTES:
        raise _TooLarge
    return body


class _Late(Exception):
    """The probe's wall-clock budget ran out (a server answering one byte at a time)."""


def probe_once(
    client: httpx.Client,
    policy: ReadinessPolicy,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Probe:
    """GET the readiness URL once; an error, a timeout or an oversized body is not ready.

    The probe ends by `policy.request_timeout` (or `deadline`, if sooner) by the wall clock:
    httpx's timeout is per read, and a server sending a byte a second never trips it.
    """
    import httpx

    from fastapi_ci.rollout._bounded_http import DeadlineTransport

    until = clock() + policy.request_timeout
    if deadline is not None:
        until = min(until, deadline)
    budget = max(0.01, until - clock())
    transport = getattr(client, "_transport", None)  # the client is ours or a test's
    if isinstance(transport, DeadlineTransport):
        transport.until = until
    try:
        with client.stream(
            "GET", policy.url, timeout=budget, headers={"Accept-Encoding": "identity"}
        ) as response:
            body = _capped_body(response, until, clock)
    except httpx.TimeoutException:
        return Probe(False, f"no complete answer within {budget:.3g}s")
    except _Late:
        return Probe(False, f"no complete answer within {budget:.3g}s (body still arriving)")
    except _TooLarge:
        return Probe(False, f"the answer is larger than {MAX_BODY_BYTES} bytes")
    except httpx.HTTPError as error:
        return Probe(False, f"{type(error).__name__}: {error}")
    return judge(response.status_code, body)


def wait_ready(
    policy: ReadinessPolicy,
    deadline: float,
    *,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReadinessResult:
    """Probe until `policy.successes` consecutive ready answers, or `deadline` (monotonic)."""
    from fastapi_ci.rollout._bounded_http import deadline_client

    own_client = client is None
    http = client or deadline_client()
    streak = failed_streak = probes = 0
    delay = policy.interval
    first_failure: float | None = None
    detail = "not probed"
    try:
        while True:
            probe = probe_once(http, policy, deadline, clock)
            probes += 1
            detail = probe.detail
            if probe.ready:
                streak, failed_streak = streak + 1, 0
                delay = policy.interval
                if streak >= policy.successes:
                    return ReadinessResult(True, probes, detail, first_failure)
            else:
                streak, failed_streak = 0, failed_streak + 1
                first_failure = first_failure if first_failure is not None else wall()
                if policy.failures and failed_streak >= policy.failures:
                    return ReadinessResult(False, probes, detail, first_failure)
            remaining = deadline - clock()
            if remaining <= 0:
                return ReadinessResult(False, probes, detail, first_failure)
            sleep(min(delay, remaining))
            if not probe.ready:
                delay = min(policy.max_interval, delay * 2)
    finally:
        if own_client:
            http.close()
