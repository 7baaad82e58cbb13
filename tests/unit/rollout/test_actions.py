"""rollout and wait-stable as actions: inputs, outputs and exit codes (backend scripted)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import fastapi_ci.rollout as rollout
from fastapi_ci.action_io import Console, execute
from fastapi_ci.rollout import ROLLOUT, WAIT_STABLE, WaitStableInputs
from fastapi_ci.rollout.backend import Observation
from tests.support.github import read_outputs
from tests.support.hostile_http import hostile_server
from tests.unit.rollout.fake_backend import ScriptedBackend

NEW = "registry.example/app:v2@sha256:2222"
OLD = "registry.example/app:v1@sha256:1111"


def console(tmp_path: Path, **env: str) -> Console:
    return Console(
        env={"GITHUB_OUTPUT": str(tmp_path / "out"), **env},
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )


def outputs(tmp_path: Path) -> dict[str, str]:
    return read_outputs(tmp_path / "out")


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedBackend:
    backend = ScriptedBackend(image=OLD, previous=None)
    monkeypatch.setattr(rollout, "make_backend", lambda *_args: backend)
    return backend


def test_rollout_sets_the_image_and_env_and_outputs_both_images(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    code = execute(
        ROLLOUT,
        {"service": "orders", "image": NEW, "env": ["A=1", "B=x=y"]},
        console(tmp_path),
    )
    assert code == 0
    assert scripted.calls == [f"set_image {NEW} [('A', '1'), ('B', 'x=y')]"]
    assert outputs(tmp_path)["previous-image"] == OLD
    assert outputs(tmp_path)["deployed-image"] == NEW


def test_rollout_env_without_equals_is_an_input_error(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    out = console(tmp_path)
    assert execute(ROLLOUT, {"service": "orders", "image": NEW, "env": ["A"]}, out) == 2
    assert "input 'env': expected KEY=VALUE" in out.stderr.getvalue()  # type: ignore[attr-defined]


def test_failed_wait_exits_1_and_outputs_rolled_back(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    scripted.image, scripted.previous = NEW, OLD
    scripted.waits = [Observation("failed", "task x failed"), Observation("complete", "v1")]
    out = console(tmp_path)
    code = execute(WAIT_STABLE, {"service": "orders", "image": NEW, "health_url": ""}, out)
    assert code == 1
    text = out.stdout.getvalue()  # type: ignore[attr-defined]
    assert "what failed: the rollout failed: task x failed" in text
    assert f"serving now: {OLD}" in text
    written = outputs(tmp_path)
    assert written["rolled-back"] == "true"
    assert float(written["duration"]) >= 0


def test_a_health_path_needs_a_service_url() -> None:
    inputs = WaitStableInputs(service="orders")
    with pytest.raises(Exception, match="service-url"):
        inputs.readiness_url()
    joined = WaitStableInputs(service="orders", service_url="http://127.0.0.1:8000/")
    assert joined.readiness_url() == "http://127.0.0.1:8000/health/ready"


def test_rollback_is_a_true_false_input_read_from_the_environment(tmp_path: Path) -> None:
    out = console(
        tmp_path, FASTAPI_CI_WAIT_STABLE_SERVICE="s", FASTAPI_CI_WAIT_STABLE_ROLLBACK="no"
    )
    assert execute(WAIT_STABLE, {}, out) == 2
    assert "input 'rollback'" in out.stderr.getvalue()  # type: ignore[attr-defined]


def test_wait_stable_bad_input_still_sets_rolled_back_false(tmp_path: Path) -> None:
    # A later step reads rolled-back; an unset output would read as "" (neither answer).
    code = execute(WAIT_STABLE, {"service": "orders", "timeout": "soon"}, console(tmp_path))
    assert code == 2
    assert outputs(tmp_path)["rolled-back"] == "false"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", "inf"),
        ("timeout", "1e309"),
        ("timeout", "nan"),
        ("timeout", "-5"),
        ("readiness_timeout", "Infinity"),
        ("readiness_interval", "1e309"),
        ("health_url", "http://127.0.0.1:8000/health\n/ready"),
        ("health_url", "ftp://127.0.0.1/health"),
        ("health_url", "health/ready"),
        ("service_url", "http://127.0.0.1:8000\r\nX: y"),
        ("service_url", "127.0.0.1:8000"),
        ("service_url", "file:///etc/passwd"),
    ],
)
def test_bad_durations_and_urls_exit_2_before_the_service_is_touched(
    tmp_path: Path, scripted: ScriptedBackend, field: str, value: str
) -> None:
    out = console(tmp_path)
    inputs = {"service": "orders", "service_url": "http://127.0.0.1:8000", field: value}
    assert execute(WAIT_STABLE, inputs, out) == 2
    assert f"input '{field.replace('_', '-')}'" in out.stderr.getvalue()  # type: ignore[attr-defined]
    assert scripted.calls == []


def test_an_empty_health_url_from_the_environment_skips_the_readiness_check(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    # action.yml's default is /health/ready: an empty value arrives only from `health-url: ''`.
    scripted.image, scripted.previous = NEW, OLD
    scripted.waits = [Observation("complete", "1 task(s) running v2")]
    out = console(
        tmp_path,
        FASTAPI_CI_WAIT_STABLE_SERVICE="orders",
        FASTAPI_CI_WAIT_STABLE_IMAGE=NEW,
        FASTAPI_CI_WAIT_STABLE_HEALTH_URL="",
    )
    assert execute(WAIT_STABLE, {}, out) == 0, out.stderr.getvalue()  # type: ignore[attr-defined]
    assert "ready:" not in out.stdout.getvalue()  # type: ignore[attr-defined]


def test_a_readiness_body_full_of_workflow_commands_is_printed_inert(
    tmp_path: Path, scripted: ScriptedBackend
) -> None:
    scripted.image, scripted.previous = NEW, OLD
    scripted.waits = [Observation("complete", "v2 running"), Observation("complete", "v1")]
    out = console(tmp_path, GITHUB_ACTIONS="true")
    with hostile_server("workflow-commands") as server:
        inputs = {"service": "orders", "image": NEW, "health_url": server.url}
        assert execute(WAIT_STABLE, inputs, out) == 1
    log = out.stdout.getvalue()  # type: ignore[attr-defined]
    assert "stop-commands::pwned" in log  # shown, for the reader...
    for line in log.splitlines():  # ...but no line is a command the runner would run
        assert not line.strip().startswith("::"), line
