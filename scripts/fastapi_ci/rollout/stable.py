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
    expected_image: str,
    settings: StableSettings,
    *,
    log: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> StableOutcome:
    """Wait for `expected_image` to be stable and ready on `backend`; roll back if not."""
    started = clock()
    deadline = started + settings.timeout
    outcome = StableOutcome(
        passed=False,
        deployed_image=expected_image,
        previous_image=backend.previous_image(),
        serving=expected_image,
        duration=0.0,
    )
    log(f"waiting for {backend.describe()} to run {expected_image}")
    seen = backend.wait(expected_image, deadline)
    if seen.phase == "failed":
        outcome.failure = f"the rollout failed: {seen.message}"
        outcome.failure_signal_at = seen.signal_at
    elif seen.phase == "progressing":
        outcome.failure = f"timed out after {settings.timeout:g}s: {seen.message}"
    else:
        outcome.complete_at = seen.signal_at or wall()
        log(f"orchestrator: {seen.message}")
        _check_readiness(backend, expected_image, settings, deadline, outcome, log, clock)
    outcome.failure_seen_at = wall()
    if outcome.failure is None:
        outcome.passed = True
    else:
        outcome.failure_signal_at = outcome.failure_signal_at or outcome.failure_seen_at
        log(f"failed: {outcome.failure}")
        _roll_back(backend, settings, outcome, log, clock, wall)
    outcome.duration = clock() - started
    outcome.returned_at = wall()
    return outcome


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


def _roll_back(
    backend: Backend,
    settings: StableSettings,
    outcome: StableOutcome,
    log: Callable[[str], None],
    clock: Callable[[], float],
    wall: Callable[[], float],
) -> None:
    """Put the previous revision back and wait for it; record what is serving afterwards."""
    if not settings.rollback:
        outcome.rollback_note = "rollback disabled (rollback: false): the failed version stays"
        outcome.serving = backend.current_image()
        return
    if outcome.previous_image is None:
        outcome.rollback_note = "no previous revision to roll back to"
        outcome.serving = backend.current_image()
        return
    target = backend.rollback()
    outcome.rollback_begun_at = wall()
    outcome.rolled_back = True
    log(f"rolling back to {target}")
    seen = backend.wait(target, clock() + settings.timeout)
    if seen.phase != "complete":
        outcome.rollback_note = f"the rollback did not settle: {seen.message}"
        outcome.serving = backend.current_image()
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
