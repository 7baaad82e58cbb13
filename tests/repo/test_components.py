"""A missing component skips a test locally but fails it under CI=true; `.ci/services.sh
--probe` says which components answer (the main job's stages use it) and why the others do not."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.support.components import REPO_ROOT, component_missing


def test_missing_component_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is not available: refused"):
        component_missing("PostgreSQL", "refused")


def test_missing_component_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"bash \.ci/services\.sh"):
        component_missing("registry", "no answer")


def probe(*components: str, without: str = "", **env: str) -> list[list[str]]:
    """`.ci/services.sh --probe`'s lines, each split into component, needed and why."""
    run = subprocess.run(
        ["bash", str(REPO_ROOT / ".ci" / "services.sh"), "--probe", *components],
        env={**os.environ, "FASTAPI_CI_SERVICES_WITHOUT": without, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [line.split(" ", 2) for line in run.stdout.splitlines()]


def test_probe_names_the_engine_for_what_lives_in_it() -> None:
    # Swarm and the base image live in the engine: without it they are absent because of it,
    # unprobed (the main job then names the engine alone for a stage that needs them).
    assert probe("swarm", "base-image", "docker", without="docker") == [
        ["swarm", "docker", "no Docker engine"],
        ["base-image", "docker", "no Docker engine"],
        ["docker", "-", "left alone (FASTAPI_CI_SERVICES_WITHOUT)"],
    ]


def test_probe_says_why_a_component_does_not_answer() -> None:
    # A port nothing listens on (bound, then closed): the registry is absent, with why.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{listener.getsockname()[1]}"
    assert probe("registry", FASTAPI_CI_REGISTRY=address) == [
        ["registry", "-", f"none answers at http://{address}/v2/"]
    ]


def test_probe_refuses_a_component_it_has_no_probe_for() -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        probe("kubernetes")
    assert refused.value.returncode == 2
    assert "no probe for kubernetes" in refused.value.stderr
