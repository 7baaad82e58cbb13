"""The wait-stable policy against a scripted backend: when it rolls back and what it reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastapi_ci.cancellation import Cancelled
from fastapi_ci.errors import CheckFailed
from fastapi_ci.rollout import stable
from fastapi_ci.rollout.backend import Observation
from fastapi_ci.rollout.readiness import ReadinessPolicy, ReadinessResult
from fastapi_ci.rollout.stable import StableSettings, wait_stable
from tests.unit.rollout.fake_backend import ScriptedBackend

NEW = "registry.example/app:v2@sha256:2222"
OLD = "registry.example/app:v1@sha256:1111"
READINESS = ReadinessPolicy("http://svc/health/ready")


@pytest.fixture
def readiness(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Script the readiness answers (one per wait_ready call) without any HTTP."""
    answers: list[bool] = []

    def fake_wait_ready(policy: ReadinessPolicy, deadline: float, **_: object) -> ReadinessResult:
        ready = answers.pop(0)
        return ReadinessResult(ready, 3, "HTTP 200" if ready else "HTTP 503: {}", None)

    monkeypatch.setattr(stable, "wait_ready", fake_wait_ready)
    return answers


def test_complete_and_ready_passes_without_rollback(readiness: list[bool]) -> None:
    readiness.append(True)
    backend = ScriptedBackend(image=NEW, previous=OLD, waits=[Observation("complete", "done")])
    outcome = wait_stable(backend, NEW, StableSettings(timeout=30, readiness=READINESS))
    assert outcome.passed
    assert not outcome.rolled_back
    assert "rollback" not in backend.calls
    # A last look at the orchestrator proves the new image still serves after readiness.
    assert backend.calls[-1] == f"observe {NEW}"


def test_orchestrator_failure_rolls_back_and_reports_what_serves(readiness: list[bool]) -> None:
    readiness.append(True)  # the rollback's readiness
    backend = ScriptedBackend(
        image=NEW,
        previous=OLD,
        waits=[
            Observation("failed", "task abc failed (exit code 2)", signal_at=100.0),
            Observation("complete", "1 task(s) running v1"),
        ],
    )
    outcome = wait_stable(
        backend, NEW, StableSettings(timeout=30, readiness=READINESS), wall=lambda: 100.5
    )
    assert not outcome.passed
    assert outcome.rolled_back
    assert outcome.failure == "the rollout failed: task abc failed (exit code 2)"
    assert outcome.serving == OLD
    assert outcome.detection_seconds == pytest.approx(0.5)
    assert "is ready again" in outcome.rollback_note
    assert backend.calls == [f"wait {NEW}", "rollback", f"wait {OLD}"]


def test_not_ready_after_complete_rolls_back(readiness: list[bool]) -> None:
    readiness.extend([False, True])
    backend = ScriptedBackend(
        image=NEW,
        previous=OLD,
        waits=[Observation("complete", "done"), Observation("complete", "back on v1")],
    )
    outcome = wait_stable(backend, NEW, StableSettings(timeout=30, readiness=READINESS))
    assert outcome.rolled_back
    assert not outcome.passed
    assert "was not ready" in str(outcome.failure)
    assert "HTTP 503" in str(outcome.failure)


def test_timeout_rolls_back(readiness: list[bool]) -> None:
    backend = ScriptedBackend(
        image=NEW,
        previous=OLD,
        waits=[
            Observation("progressing", "0 of 1 task(s) on the new version"),
            Observation("complete", "v1"),
        ],
    )
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None))
    assert outcome.rolled_back
    assert outcome.failure == "timed out after 5s: 0 of 1 task(s) on the new version"


def test_new_image_replaced_after_readiness_is_a_failure(readiness: list[bool]) -> None:
    readiness.extend([True, True])
    backend = ScriptedBackend(
        image=NEW,
        previous=OLD,
        waits=[Observation("complete", "done"), Observation("complete", "v1")],
        final=Observation("failed", "Swarm update rollback_completed: rolled back by someone"),
    )
    outcome = wait_stable(backend, NEW, StableSettings(timeout=30, readiness=READINESS))
    assert not outcome.passed
    assert "rollback_completed" in str(outcome.failure)


def test_rollback_disabled_leaves_the_failed_version(readiness: list[bool]) -> None:
    backend = ScriptedBackend(image=NEW, previous=OLD, waits=[Observation("failed", "crash")])
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None, rollback=False))
    assert not outcome.passed
    assert not outcome.rolled_back
    assert outcome.serving == NEW
    assert "rollback disabled" in outcome.rollback_note


def test_no_previous_revision_fails_without_rollback(readiness: list[bool]) -> None:
    backend = ScriptedBackend(image=NEW, previous=None, waits=[Observation("failed", "crash")])
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None))
    assert not outcome.rolled_back
    assert outcome.rollback_note == "no previous revision to roll back to"


def test_a_rollback_that_does_not_settle_is_reported(readiness: list[bool]) -> None:
    backend = ScriptedBackend(
        image=NEW,
        previous=OLD,
        waits=[Observation("failed", "crash"), Observation("progressing", "update paused")],
    )
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None))
    assert outcome.rolled_back
    assert outcome.rollback_note == "the rollback did not settle: update paused"


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (RecursionError("maximum recursion depth exceeded"), "internal error: RecursionError"),
        (MemoryError(), "internal error: MemoryError"),
        (Cancelled("SIGTERM"), "the wait was cancelled (SIGTERM)"),
        (KeyboardInterrupt(), "the wait was interrupted (SIGINT)"),
        (CheckFailed("the Swarm API refused task list"), "the Swarm API refused task list"),
    ],
)
def test_any_exit_that_is_not_a_stable_verdict_rolls_back(
    readiness: list[bool], error: BaseException, failure: str
) -> None:
    backend = ScriptedBackend(
        image=NEW, previous=OLD, waits=[error, Observation("complete", "back on v1")]
    )
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None))
    assert not outcome.passed
    assert str(outcome.failure).startswith(failure)
    assert outcome.rolled_back
    assert outcome.serving == OLD
    assert backend.calls == [f"wait {NEW}", "rollback", f"wait {OLD}"]


def test_a_failed_resolve_of_the_image_rolls_back(readiness: list[bool]) -> None:
    backend = ScriptedBackend(image=NEW, previous=OLD, waits=[Observation("complete", "v1")])

    def refused_login() -> str:
        raise CheckFailed("registry 127.0.0.1:5000 refused the login of 'ci-user'")

    outcome = wait_stable(backend, refused_login, StableSettings(timeout=5, readiness=None))
    assert outcome.rolled_back
    assert "refused the login" in str(outcome.failure)
    assert outcome.serving == OLD


def test_a_second_cancellation_cuts_only_the_wait_for_the_rollback(
    readiness: list[bool],
) -> None:
    backend = ScriptedBackend(
        image=NEW, previous=OLD, waits=[Cancelled("SIGINT"), Cancelled("SIGTERM")]
    )
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None))
    assert outcome.rolled_back
    assert "rollback" in backend.calls
    assert outcome.serving == OLD
    assert "not waited for" in outcome.rollback_note


def test_a_rollback_that_cannot_start_is_reported_not_raised(readiness: list[bool]) -> None:
    class BrokenRollback(ScriptedBackend):
        def rollback(self) -> str:
            raise CheckFailed("the Swarm API refused rollback of service orders")

    backend = BrokenRollback(image=NEW, previous=OLD, waits=[Observation("failed", "crash")])
    outcome = wait_stable(backend, NEW, StableSettings(timeout=5, readiness=None))
    assert not outcome.rolled_back
    assert "could not start" in outcome.rollback_note
    assert outcome.serving == NEW
