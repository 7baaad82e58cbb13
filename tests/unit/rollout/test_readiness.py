"""Deep readiness: what counts as ready, and how long the poll keeps going."""

from __future__ import annotations

import httpx
import pytest

from fastapi_ci.rollout.readiness import ReadinessPolicy, judge, wait_ready


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
