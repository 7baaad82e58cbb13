"""wait-stable's ways out that are not a verdict, on the real Swarm: each one rolls back.

Once a rollout began, every exit of wait-stable that is not "stable" must leave the previous
version serving, say `rolled-back: true` and exit 1: an internal error (a readiness body
nested past Python's stack), a gzip bomb, a slow-loris readiness endpoint, a cancellation
(SIGINT, SIGTERM), a registry that refuses the login, and a re-run that rolls the same
digest again after a run that never judged it. The hostile readiness endpoints are a real
server on 127.0.0.1 (tests/support/hostile_http.py); the service, its tasks and the rollback are
the real Swarm's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastapi_ci.errors import CheckFailed
from fastapi_ci.rollout.backends.swarm import SwarmBackend
from tests.support.hostile_http import hostile_server
from tests.support.rollout import roll_out, wait_stable
from tests.support.swarm import (
    SwarmService,
    Versions,
    assert_rolled_back_to_v1,
)

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.postgres]

# Starts and answers /health/live (so Swarm completes the update), but /health/ready is 503.
NOT_READY_ENV = "DATABASE_URL=postgresql://u:p@127.0.0.1:1/x"


@pytest.mark.parametrize("mode", ["deep-nesting", "gzip-bomb", "slow-loris-body"])
def test_a_hostile_readiness_answer_rolls_back_within_the_timeout(
    swarm: list[str], service: SwarmService, mode: str
) -> None:
    started = roll_out(service, service.versions.v2)
    with hostile_server(mode) as hostile:
        code, report = wait_stable(
            service,
            str(started["deployed_image"]),
            "--health-url",
            hostile.url,
            "--readiness-timeout",
            "8",
        )
    assert code == 1, report
    assert_rolled_back_to_v1(swarm, service, report)
    # The readiness phase is bounded by readiness-timeout, whatever the server does.
    readiness_seconds = float(report["failure_seen_at"]) - float(report["complete_at"])  # type: ignore[arg-type]
    print(f"{mode}: readiness judged in {readiness_seconds:.1f}s: {report['failure']}")
    assert readiness_seconds < 8 + 1.5


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_cancelled_wait_rolls_back(
    swarm: list[str], service: SwarmService, tmp_path: Path, signal_number: signal.Signals
) -> None:
    started = roll_out(service, service.versions.v2, NOT_READY_ENV)
    output = tmp_path / "github_output"
    output.touch()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastapi_ci",
            "wait-stable",
            *service.action_args(),
            "--image",
            str(started["deployed_image"]),
            "--service-url",
            service.url,
            "--timeout",
            "90",
            # Never give up on readiness by itself: only the signal ends this wait.
            "--readiness-failures",
            "0",
            "--readiness-timeout",
            "80",
            "--json",
        ],
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # the log: signal once the readiness wait has begun
        print(line, end="")
        if line.startswith("orchestrator:"):
            break
    time.sleep(1)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=120)
    print(stderr)
    report = json.loads(stdout)
    assert process.returncode == 1, report
    assert signal.Signals(signal_number).name in str(report["failure"])
    assert_rolled_back_to_v1(swarm, service, report)
    assert "rolled-back<<" in output.read_text()
    assert "\ntrue\n" in output.read_text()


def test_a_refused_registry_login_rolls_back(swarm: list[str], service: SwarmService) -> None:
    roll_out(service, service.versions.v2)
    # The tag (not the pinned digest): resolving it needs the registry, which refuses us.
    code, report = wait_stable(
        service, service.versions.v2, "--registry-password", "not-the-password"
    )
    assert code == 1, report
    assert "refused the login" in str(report["failure"])
    assert_rolled_back_to_v1(swarm, service, report)


def test_rolling_the_same_digest_again_keeps_the_previous_version_to_return_to(
    swarm: list[str], service: SwarmService
) -> None:
    # A first run rolled v2 out and died before judging it (no wait-stable, no rollback).
    first = roll_out(service, service.versions.v2, NOT_READY_ENV)
    # The re-run rolls the very same digest and env: Swarm must still return to v1.
    again = roll_out(service, service.versions.v2, NOT_READY_ENV)
    assert again["deployed_image"] == first["deployed_image"]
    assert str(again["previous_image"]).startswith(service.versions.v1)
    code, report = wait_stable(service, str(again["deployed_image"]))
    assert code == 1, report
    assert_rolled_back_to_v1(swarm, service, report)


def test_a_missing_registry_credential_is_not_retried_as_transient(
    swarm: list[str],
    versions: Versions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No login anywhere: an empty docker config, and no registry-password given.
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    backend = SwarmBackend("any", dict(os.environ))
    started = time.monotonic()
    with pytest.raises(CheckFailed, match="no basic auth credentials"):
        backend.resolve(versions.v1)
    elapsed = time.monotonic() - started
    assert elapsed < 2, f"{elapsed:.1f}s: the engine's 500 for a refused pull was retried"
