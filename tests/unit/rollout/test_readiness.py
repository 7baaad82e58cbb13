"""Deep readiness: what counts as ready, and how long the poll keeps going."""

from __future__ import annotations

import dataclasses
import resource
import time

import httpx
import pytest

from fastapi_ci.rollout._bounded_http import DeadlineTransport, deadline_client
from fastapi_ci.rollout.readiness import (
    MAX_BODY_BYTES,
    ReadinessPolicy,
    judge,
    probe_once,
    wait_ready,
)
from tests.support.hostile_http import hostile_server


class FakeTime:
    """A monotonic clock that advances only when the code sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted_client(answers: list[tuple[int, str] | Exception]) -> httpx.Client:
    """A client whose successive requests get the scripted answers (the last one repeats)."""

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer[0], text=answer[1])

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "body", "ready"),
    [
        (200, '{"status": "ready"}', True),
        (204, "", True),
        (200, "OK", True),
        (503, '{"reason": "database unreachable"}', False),
        (500, "boom", False),
        (200, '{"status": "not ready"}', False),
        (200, '{"ready": false}', False),
    ],
)
def test_ready_means_2xx_and_a_body_that_does_not_say_otherwise(
    status: int, body: str, ready: bool
) -> None:
    assert judge(status, body.encode()).ready is ready


def test_ready_after_the_required_consecutive_successes() -> None:
    time = FakeTime()
    client = scripted_client([(503, "{}"), (200, "{}"), (503, "{}"), (200, "{}")])
    result = wait_ready(
        ReadinessPolicy("http://svc/health/ready", successes=3, interval=1.0),
        deadline=60,
        client=client,
        clock=time.clock,
        sleep=time.sleep,
        wall=lambda: 42.0,
    )
    assert result.ready
    # 503, 200, 503 broke the streak: three more 200s are needed after it.
    assert result.probes == 6
    assert result.first_failure_at == 42.0


def test_not_ready_at_the_deadline_reports_the_last_answer() -> None:
    time = FakeTime()
    client = scripted_client([(503, '{"reason": "database unreachable"}')])
    result = wait_ready(
        ReadinessPolicy("http://svc/health/ready", interval=0.5, max_interval=2.0),
        deadline=10,
        client=client,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert not result.ready
    assert "HTTP 503" in result.last_detail
    assert "database unreachable" in result.last_detail
    # Backoff doubles after each failure, capped at max_interval, and never overshoots.
    assert time.sleeps[:4] == [0.5, 1.0, 2.0, 2.0]
    assert time.now == 10


def test_a_connection_error_is_not_ready_not_a_crash() -> None:
    time = FakeTime()
    client = scripted_client([httpx.ConnectError("refused"), (200, "{}")])
    result = wait_ready(
        ReadinessPolicy("http://svc/health/ready", successes=1),
        deadline=5,
        client=client,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert result.ready
    assert result.probes == 2


def test_consecutive_failures_end_the_wait_before_the_deadline() -> None:
    time = FakeTime()
    client = scripted_client([(200, "{}"), (503, "{}"), (503, "{}"), (503, "{}")])
    result = wait_ready(
        ReadinessPolicy("http://svc/health/ready", failures=3, interval=0.25),
        deadline=60,
        client=client,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert not result.ready
    assert result.probes == 4
    assert time.now == 0.25 + 0.25 + 0.5  # far from the 60 s deadline


def test_a_body_nested_past_the_stack_is_judged_not_a_crash() -> None:
    # json.loads raises RecursionError on this; it is simply not JSON that says "not ready".
    assert judge(200, b"[" * 200_000).ready


@pytest.mark.parametrize("mode", ["slow-loris-body", "slow-loris-headers"])
def test_a_server_answering_one_byte_a_second_ends_the_probe_by_its_timeout(mode: str) -> None:
    policy = ReadinessPolicy("", successes=1, request_timeout=1.5)
    with hostile_server(mode) as server:
        started = time.monotonic()
        with deadline_client() as client:
            probe = probe_once(client, dataclasses.replace(policy, url=server.url))
        elapsed = time.monotonic() - started
    assert not probe.ready
    assert "no complete answer within" in probe.detail
    assert elapsed < 2.5, f"the probe took {elapsed:.1f}s with a 1.5 s timeout"


def test_the_whole_wait_ends_by_its_deadline_against_a_slow_loris() -> None:
    with hostile_server("slow-loris-body") as server:
        started = time.monotonic()
        result = wait_ready(
            ReadinessPolicy(server.url, request_timeout=30, interval=0.1),
            deadline=started + 2.0,
        )
        elapsed = time.monotonic() - started
    assert not result.ready
    assert elapsed < 3.0, f"the wait took {elapsed:.1f}s with a 2 s deadline"


def test_a_gzip_bomb_is_not_inflated_past_the_cap() -> None:
    with hostile_server("gzip-bomb") as server:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with deadline_client() as client:
            probe = probe_once(client, ReadinessPolicy(server.url))
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not probe.ready
    assert f"larger than {MAX_BODY_BYTES} bytes" in probe.detail
    assert grown_kib < 16 * 1024, f"memory grew by {grown_kib} KiB reading a 32 MiB bomb"


def test_the_deadline_transport_is_the_one_httpx_uses() -> None:
    # DeadlineTransport replaces httpx's private `_pool`: this breaks if httpx stops using it.
    transport = DeadlineTransport()
    assert transport._pool._network_backend is transport.backend
