"""The one interface every orchestrator backend implements for rollout and wait-stable.

A backend knows how to put a new image on a service, how to read one snapshot of the
rollout's progress, how to wait for that progress to settle, and how to put the previous
version back. Policy (deep readiness, when to roll back, what to report) lives in
`fastapi_ci.rollout.stable` and is the same for every backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Phase = Literal["progressing", "complete", "failed"]


@dataclass(frozen=True)
class RolloutStart:
    """What `Backend.set_image` did: the image that was serving and the one now requested."""

    previous_image: str
    deployed_image: str
    started_at: float  # wall clock (time.time()), comparable with the orchestrator's timestamps


@dataclass(frozen=True)
class Observation:
    """One snapshot of a rollout as the orchestrator reports it.

    `signal_at` is when the orchestrator says the decisive event happened (a task failed,
    the update completed), wall clock, so the time from that event to our reaction can be
    measured; None when the orchestrator gives no time.
    """

    phase: Phase
    message: str
    serving: tuple[str, ...] = ()
    signal_at: float | None = None


class Backend(Protocol):
    """An orchestrator holding one service: Swarm service, Kubernetes Deployment, ECS service."""

    name: str

    def describe(self) -> str:
        """The service, as a user would name it in a message ("swarm service orders")."""
        ...

    def current_image(self) -> str:
        """The image the service's spec asks for now."""
        ...

    def previous_image(self) -> str | None:
        """The image of the revision a rollback would return to (None: there is none)."""
        ...

    def resolve(self, image: str) -> str:
        """The reference the orchestrator records for `image` (Swarm pins the digest)."""
        ...

    def set_image(self, image: str, env: dict[str, str]) -> RolloutStart:
        """Start rolling `image` (and env overrides) out; return at once."""
        ...

    def observe(self, expected_image: str) -> Observation:
        """One snapshot: is the rollout of `expected_image` progressing, complete or failed?

        Complete means the orchestrator says done AND every serving replica runs
        `expected_image`: a success must mean the new image is the one serving.
        """
        ...

    def wait(self, expected_image: str, deadline: float) -> Observation:
        """Block until `observe` is complete or failed, or `deadline` (monotonic) passes."""
        ...

    def rollback(self) -> str:
        """Put the previous revision back; return the image it asks for. Returns at once."""
        ...


def epoch(moment: object) -> float | None:
    """A client's timestamp (a datetime; botocore's Stubber may pass others through as is)
    in epoch seconds, as `Observation.signal_at` holds it; None when there is none."""
    return moment.timestamp() if isinstance(moment, datetime) else None


def poll_until_settled(
    observe: Callable[[], Observation],
    deadline: float,
    interval: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Observation:
    """`observe` every `interval` seconds until it settles or the deadline passes.

    For orchestrators with no watch API (Swarm, ECS); the last snapshot is returned on
    timeout, still `progressing`, so the caller can say where the rollout was stuck.
    """
    while True:
        seen = observe()
        if seen.phase != "progressing":
            return seen
        remaining = deadline - clock()
        if remaining <= 0:
            return seen
        sleep(min(interval, remaining))
