"""The wait-stable policy, the same for every backend.

1. wait (bounded) for the orchestrator to say the rollout is complete or failed;
2. when complete, poll the deep readiness URL until N consecutive successes;
3. check once more that the new image is the one serving;
4. on any failure or timeout: roll back (unless told not to), wait for the rollback to be
   stable and ready, and report what failed, how long it took and what is serving now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi_ci.cancellation import Cancelled, pending_signal, shielded
from fastapi_ci.errors import FastapiCiError
from fastapi_ci.rollout.backend import Backend
from fastapi_ci.rollout.readiness import ReadinessPolicy, wait_ready


@dataclass(frozen=True)
class StableSettings:
    """Bounds and switches of one wait: every wait is bounded by `timeout` seconds."""

    timeout: float
    readiness: ReadinessPolicy | None
    readiness_timeout: float = 60.0
    rollback: bool = True


@dataclass
class StableOutcome:
    """What happened, with the timestamps the report and the benchmark need (wall clock)."""

    passed: bool
    deployed_image: str
    previous_image: str | None
    serving: str
    duration: float
    failure: str | None = None
    rolled_back: bool = False
    rollback_note: str = ""
    complete_at: float | None = None
    returned_at: float | None = None
    failure_signal_at: float | None = None
    failure_seen_at: float | None = None
    rollback_begun_at: float | None = None
    readiness_probes: int = 0
    readiness_first_failure_at: float | None = None

    @property
    def detection_seconds(self) -> float | None:
        """From the first failing signal to the rollback begun."""
        if self.failure_signal_at is None or self.rollback_begun_at is None:
            return None
        return self.rollback_begun_at - self.failure_signal_at


def wait_stable(
    backend: Backend,
    expected_image: str | Callable[[], str],
    settings: StableSettings,
    *,
    log: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> StableOutcome:
    """Wait for `expected_image` to be stable and ready on `backend`; roll back if not.

    `expected_image` may be a function (resolving a tag, logging in to the registry): it
    runs inside the guard, so its failure rolls back too. The rollout began before this
    was called, so EVERY way out that is not a stable verdict rolls back: a failed or
    timed-out rollout, an error of ours or of the orchestrator's API, MemoryError,
    RecursionError, or a cancellation (SIGINT/SIGTERM inside `cancellable()`).
    """
    started = clock()
    deadline = started + settings.timeout
    outcome = StableOutcome(
        passed=False,
        deployed_image=expected_image if isinstance(expected_image, str) else "",
        previous_image=None,
        serving="unknown",
        duration=0.0,
    )
    previous_known = False
    try:
        outcome.previous_image = backend.previous_image()
        previous_known = True
        expected = expected_image if isinstance(expected_image, str) else expected_image()
        outcome.deployed_image = outcome.serving = expected
        log(f"waiting for {backend.describe()} to run {expected}")
        seen = backend.wait(expected, deadline)
        if seen.phase == "failed":
            outcome.failure = f"the rollout failed: {seen.message}"
            outcome.failure_signal_at = seen.signal_at
        elif seen.phase == "progressing":
            outcome.failure = f"timed out after {settings.timeout:g}s: {seen.message}"
        else:
            outcome.complete_at = seen.signal_at or wall()
            log(f"orchestrator: {seen.message}")
            _check_readiness(backend, expected, settings, deadline, outcome, log, clock)
    except BaseException as error:  # every way out rolls back (see above)
        outcome.failure = _unexpected_exit(error)
    outcome.failure_seen_at = wall()
    if outcome.failure is None:
        outcome.passed = True
    else:
        outcome.failure_signal_at = outcome.failure_signal_at or outcome.failure_seen_at
        log(f"failed: {outcome.failure}")
        roll_back(backend, settings, outcome, previous_known, log, clock, wall)
    outcome.duration = clock() - started
    outcome.returned_at = wall()
    return outcome


def _unexpected_exit(error: BaseException) -> str:
    """What a failure that is not a verdict was, in a line (never a traceback)."""
    if isinstance(error, Cancelled):
        return f"the wait was cancelled ({error.signal_name})"
    if isinstance(error, KeyboardInterrupt):
        return "the wait was interrupted (SIGINT)"
    if isinstance(error, FastapiCiError):
        return error.message
    if isinstance(error, SystemExit):
        return f"the wait was told to exit ({error.code})"
    return f"internal error: {type(error).__name__}: {str(error)[:300]}"


def _check_readiness(
    backend: Backend,
    expected_image: str,
    settings: StableSettings,
    deadline: float,
    outcome: StableOutcome,
    log: Callable[[str], None],
    clock: Callable[[], float],
) -> None:
    """Deep readiness, then proof that the new image still serves; sets outcome.failure."""
    if settings.readiness is not None:
        policy = settings.readiness
        result = wait_ready(policy, min(deadline, clock() + settings.readiness_timeout))
        outcome.readiness_probes = result.probes
        outcome.readiness_first_failure_at = result.first_failure_at
        if not result.ready:
            outcome.failure = (
                f"{policy.url} was not ready ({policy.successes} consecutive successes "
                f"needed) after {result.probes} probes: {result.last_detail}"
            )
            outcome.failure_signal_at = result.first_failure_at
            return
        log(f"ready: {policy.url} answered {policy.successes} times in a row")
    # The orchestrator may have moved on meanwhile (someone else's rollback, a crash loop).
    final = backend.observe(expected_image)
    if final.phase != "complete":
        outcome.failure = f"after the readiness check: {final.message}"
        outcome.failure_signal_at = final.signal_at


def roll_back(
    backend: Backend,
    settings: StableSettings,
    outcome: StableOutcome,
    previous_known: bool,
    log: Callable[[str], None],
    clock: Callable[[], float],
    wall: Callable[[], float],
) -> None:
    """Put the previous revision back and wait for it; record what is serving afterwards.

    wait-stable calls it on a failed rollout, verify on a failed verdict (`previous_known`:
    the outcome's `previous_image` was read, so None there means there is nothing to go to).

    Nothing here raises: a failed rollback is reported in `rollback_note`, and a second
    cancellation only cuts the wait for the rollback short, never the call that starts it.
    """
    if not settings.rollback:
        outcome.rollback_note = "rollback disabled (rollback: false): the failed version stays"
        outcome.serving = _serving_now(backend)
        return
    if previous_known and outcome.previous_image is None:
        outcome.rollback_note = "no previous revision to roll back to"
        outcome.serving = _serving_now(backend)
        return
    try:
        with shielded():
            target = backend.rollback()
    except BaseException as error:  # report it; nothing else can be done
        outcome.rollback_note = f"the rollback could not start: {_unexpected_exit(error)}"
        outcome.serving = _serving_now(backend)
        return
    outcome.rollback_begun_at = wall()
    outcome.rolled_back = True
    log(f"rolling back to {target}")
    if pending_signal() is not None:
        outcome.serving = target
        outcome.rollback_note = "rollback begun; cancelled again, so not waited for"
        return
    try:
        seen = backend.wait(target, clock() + settings.timeout)
        if seen.phase != "complete":
            outcome.rollback_note = f"the rollback did not settle: {seen.message}"
            outcome.serving = _serving_now(backend)
            return
        outcome.serving = target
        outcome.rollback_note = f"rolled back: {seen.message}"
        if settings.readiness is not None:
            result = wait_ready(settings.readiness, clock() + settings.readiness_timeout)
            outcome.rollback_note += (
                f"; {settings.readiness.url} is ready again"
                if result.ready
                else f"; but {settings.readiness.url} is not ready: {result.last_detail}"
            )
    except BaseException as error:  # the rollback is begun: say so and stop
        outcome.serving = target
        outcome.rollback_note = f"rollback begun, not waited for: {_unexpected_exit(error)}"


def _serving_now(backend: Backend) -> str:
    """The image the service asks for now, or why that cannot be known."""
    try:
        return backend.current_image()
    except Exception as error:  # the report must still be written
        return f"unknown ({_unexpected_exit(error)})"
