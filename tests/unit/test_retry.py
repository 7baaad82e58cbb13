"""retry_call: transient errors are retried with backoff within a budget; others are not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fastapi_ci.retry import RetryExhausted, RetryPolicy, TransientError, retry_call

NO_JITTER = RetryPolicy(attempts=4, initial_delay=1.0, factor=2.0, max_delay=3.0, jitter=0.0)


class FakeClock:
    """time.monotonic and time.sleep that only move when sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def flaky(failures: list[Exception]) -> Callable[[], str]:
    def operation() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    return operation


def test_transient_failures_are_retried_with_growing_capped_delays() -> None:
    clock = FakeClock()
    failures: list[Exception] = [
        TransientError("503"),
        TransientError("reset"),
        TransientError("eof"),
    ]
    result = retry_call(
        flaky(failures),
        what="push",
        policy=NO_JITTER,
        sleep=clock.sleep,
        clock=clock.clock,
    )
    assert result == "ok"
    assert clock.sleeps == [1.0, 2.0, 3.0]


def test_permanent_errors_propagate_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="denied"):
        retry_call(
            flaky([ValueError("denied")]),
            what="push",
            policy=NO_JITTER,
            sleep=clock.sleep,
            clock=clock.clock,
        )
    assert clock.sleeps == []


def test_giving_up_says_what_how_often_how_long_and_the_last_error() -> None:
    clock = FakeClock()
    retried: list[int] = []
    with pytest.raises(RetryExhausted) as caught:
        retry_call(
            flaky([TransientError(f"refused {n}") for n in range(10)]),
            what="push of r:1",
            policy=NO_JITTER,
            sleep=clock.sleep,
            clock=clock.clock,
            on_retry=lambda attempt, delay, error: retried.append(attempt),
        )
    assert retried == [1, 2, 3]
    assert caught.value.message == "gave up on push of r:1 after 4 attempts in 6s: refused 3"
    assert caught.value.attempts == 4


def test_no_retry_starts_that_would_cross_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=10, initial_delay=5.0, factor=1.0, deadline_seconds=12, jitter=0)
    with pytest.raises(RetryExhausted) as caught:
        retry_call(
            flaky([TransientError("timeout")] * 10),
            what="login",
            policy=policy,
            sleep=clock.sleep,
            clock=clock.clock,
        )
    assert clock.sleeps == [5.0, 5.0]
    assert caught.value.attempts == 3


def test_jitter_only_shortens_the_delay() -> None:
    policy = RetryPolicy(initial_delay=10.0, jitter=0.5)
    assert policy.delay(1, rng=lambda: 0.0) == 10.0
    assert policy.delay(1, rng=lambda: 1.0) == 5.0
