"""Retry an operation on transient failures, with exponential backoff and a bounded budget.

Every network call to a registry or a cluster API goes through `retry_call`: a failure the
caller classifies as transient (5xx, timeout, connection refused or reset) is retried after
a growing delay, until the attempts or the total time run out; anything else (bad
credentials, a missing repository) propagates at once, because retrying it only delays the
same answer. Giving up raises `RetryExhausted`, whose message says what was tried, how many
times, for how long, and the last error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi_ci.errors import CheckFailed

T = TypeVar("T")


class TransientError(Exception):
    """A failure worth another attempt: the same call may well succeed a moment later."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most `attempts` calls and `deadline_seconds` in all.

    The delay before retry n (1-based) is `initial_delay * factor**(n-1)`, capped at
    `max_delay`, then shortened by up to `jitter` (a fraction) so that many jobs hitting
    the same registry outage do not retry in lockstep.
    """

    attempts: int = 4
    initial_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 30.0
    deadline_seconds: float = 300.0
    jitter: float = 0.2

    def delay(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry `retry_number` (1 for the first retry)."""
        base = min(self.max_delay, self.initial_delay * self.factor ** (retry_number - 1))
        return base * (1.0 - self.jitter * rng())


class RetryExhausted(CheckFailed):
    """Every allowed attempt failed transiently (or the time budget ran out)."""

    def __init__(self, what: str, attempts: int, elapsed: float, last_error: BaseException):
        super().__init__(
            f"gave up on {what} after {attempts} attempt{'s' if attempts != 1 else ''} "
            f"in {elapsed:.0f}s: {last_error}",
            why="every attempt failed with an error that is usually temporary "
            "(the service down or overloaded, a timeout, a dropped connection)",
            fix="check that the service is up and reachable from the runner, then re-run the job",
        )
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_error = last_error


RetryListener = Callable[[int, float, BaseException], None]


def retry_call(
    operation: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy | None = None,
    is_transient: Callable[[BaseException], bool] = lambda error: isinstance(error, TransientError),
    on_retry: RetryListener | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `operation` until it succeeds, a permanent error escapes, or the budget is spent.

    `what` names the operation in the give-up message ("push of ghcr.io/acme/orders:1.2.3").
    `on_retry(failed_attempt, delay, error)` is told before each wait (to log a warning).
    A retry is not started when its delay would cross the deadline: waiting only to be
    cut off helps nobody.
    """
    policy = policy or RetryPolicy()
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except Exception as error:
            if not is_transient(error):
                raise
            elapsed = clock() - started
            delay = policy.delay(attempt)
            if attempt >= policy.attempts or elapsed + delay > policy.deadline_seconds:
                raise RetryExhausted(what, attempt, elapsed, error) from error
            if on_retry is not None:
                on_retry(attempt, delay, error)
            sleep(delay)
