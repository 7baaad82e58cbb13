"""The Swarm backend's reading of a service and its tasks, in the engine API's shapes."""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_ci.clients.swarm import parse_timestamp
from fastapi_ci.rollout.backends.swarm import SwarmBackend

V1 = "127.0.0.1:5000/app:v1@sha256:aaaa"
V2 = "127.0.0.1:5000/app:v2@sha256:bbbb"
STARTED = "2026-11-24T22:00:00.000000000Z"


def task(image: str, state: str, desired: str, at: str, **status: Any) -> dict[str, Any]:
    return {
        "ID": f"task-{image[-4:]}-{state}-{at[-13:-10]}",
        "DesiredState": desired,
        "Spec": {"ContainerSpec": {"Image": image, "Env": ["PORT=8000"]}},
        "Status": {"State": state, "Timestamp": at, **status},
    }


class FakeApi:
    """inspect_service / tasks / update_service as the docker SDK's APIClient answers them."""

    def __init__(self, update: dict[str, Any] | None, tasks: list[dict[str, Any]]) -> None:
        self.service: dict[str, Any] = {
            "ID": "svc1",
            "Version": {"Index": 7},
            "Spec": {
                "TaskTemplate": {"ContainerSpec": {"Image": V2, "Env": ["PORT=8000"]}},
                "Mode": {"Replicated": {"Replicas": 1}},
                "UpdateConfig": {"Parallelism": 1, "Order": "stop-first"},
            },
            "PreviousSpec": {
                "TaskTemplate": {"ContainerSpec": {"Image": V1, "Env": ["PORT=8000"]}},
            },
        }
        if update is not None:
            self.service["UpdateStatus"] = update
        self.task_list = tasks
        self.updates: list[dict[str, Any]] = []

    def inspect_service(self, name: str) -> dict[str, Any]:
        return self.service

    def tasks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        return self.task_list

    def update_service(self, service: str, version: int, **kwargs: Any) -> None:
        self.updates.append({"service": service, "version": version, **kwargs})


def backend(api: FakeApi) -> SwarmBackend:
    made = SwarmBackend.__new__(SwarmBackend)
    made.service, made.api, made.poll_seconds = "orders", api, 0.0
    made.wall = lambda: 0.0
    made.login = None
    return made


def test_swarm_timestamps_with_nanoseconds_parse_to_epoch() -> None:
    assert parse_timestamp("2026-11-24T22:00:01.500000000Z") == pytest.approx(
        parse_timestamp(STARTED) + 1.5  # type: ignore[operator]
    )
    assert parse_timestamp("0001-01-01T00:00:00Z") is None


def test_a_failed_task_of_the_new_version_is_a_failure_with_its_exit_code() -> None:
    api = FakeApi(
        {"State": "updating", "StartedAt": STARTED},
        [
            task(V1, "running", "running", STARTED),
            task(
                V2,
                "failed",
                "shutdown",
                "2026-11-24T22:00:02.000000000Z",
                Err="task: non-zero exit (2)",
                ContainerStatus={"ExitCode": 2},
            ),
        ],
    )
    seen = backend(api).observe(V2)
    assert seen.phase == "failed"
    assert "non-zero exit (2) (exit code 2)" in seen.message
    assert seen.signal_at == parse_timestamp("2026-11-24T22:00:02.000000000Z")


def test_a_failure_from_before_this_update_is_ignored() -> None:
    api = FakeApi(
        {"State": "updating", "StartedAt": STARTED},
        [
            task(V2, "failed", "shutdown", "2026-11-24T21:00:00.000000000Z"),
            task(V1, "running", "running", STARTED),
        ],
    )
    assert backend(api).observe(V2).phase == "progressing"


def test_completed_is_not_complete_while_an_old_task_still_drains() -> None:
    # Swarm says "completed" when it has told the old task to stop, not when it has stopped.
    api = FakeApi(
        {"State": "completed", "StartedAt": STARTED, "CompletedAt": STARTED},
        [task(V2, "running", "running", STARTED), task(V1, "running", "shutdown", STARTED)],
    )
    seen = backend(api).observe(V2)
    assert seen.phase == "progressing"
    assert "1 old task(s) still running" in seen.message


def test_complete_when_only_the_new_version_runs() -> None:
    stopped = "2026-11-24T22:00:04.000000000Z"
    api = FakeApi(
        {"State": "completed", "StartedAt": STARTED, "CompletedAt": STARTED},
        [task(V2, "running", "running", STARTED), task(V1, "shutdown", "shutdown", stopped)],
    )
    seen = backend(api).observe(V2)
    assert seen.phase == "complete"
    assert seen.serving == (V2,)
    # Complete = the last old task stopped, later than Swarm's CompletedAt.
    assert seen.signal_at == parse_timestamp(stopped)


def test_a_paused_update_is_a_failure() -> None:
    api = FakeApi(
        {"State": "paused", "StartedAt": STARTED, "Message": "update paused due to failure"},
        [task(V1, "running", "running", STARTED)],
    )
    seen = backend(api).observe(V2)
    assert seen.phase == "failed"
    assert "paused" in seen.message


def test_set_image_is_start_first_and_pauses_on_failure() -> None:
    api = FakeApi(None, [])
    api.service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = V1
    start = backend(api).set_image(V2, {"DATABASE_URL": "postgresql://db/x"})
    assert (start.previous_image, start.deployed_image) == (V1, V2)
    [update] = api.updates
    assert update["version"] == 7
    assert update["update_config"]["Order"] == "start-first"
    assert update["update_config"]["FailureAction"] == "pause"
    container = update["task_template"]["ContainerSpec"]
    assert container["Image"] == V2
    assert container["Env"] == ["PORT=8000", "DATABASE_URL=postgresql://db/x"]


def test_rollback_puts_the_previous_spec_back() -> None:
    api = FakeApi({"State": "paused"}, [])
    assert backend(api).rollback() == V1
    assert api.updates[0]["task_template"]["ContainerSpec"]["Image"] == V1


def test_a_spec_replaced_by_someone_else_is_a_failure() -> None:
    api = FakeApi({"State": "updating", "StartedAt": STARTED}, [])
    api.service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = V1
    seen = backend(api).observe(V2)
    assert seen.phase == "failed"
    assert seen.message == f"the service now asks for {V1}"


def test_zero_replicas_is_a_failure_not_a_success() -> None:
    api = FakeApi({"State": "completed", "StartedAt": STARTED}, [])
    api.service["Spec"]["Mode"]["Replicated"]["Replicas"] = 0
    assert backend(api).observe(V2).phase == "failed"
