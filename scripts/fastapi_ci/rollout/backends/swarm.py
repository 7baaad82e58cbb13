"""rollout on Docker Swarm: set a new image, read rollout progress, roll back to the previous spec.

The update is start-first (a new task starts and must pass its health check before an old
one stops) with failure action "pause": Swarm stops at the first failed task and we decide
about the rollback, so the same policy runs on every orchestrator. Images are pinned to
their registry digest, as `docker service update` does, so every node runs the same bytes
and "is the new image serving" is an exact comparison.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi_ci.clients.docker_engine import Engine
from fastapi_ci.clients.registry import RegistryError, RegistryLogin
from fastapi_ci.clients.swarm import API_RETRY, is_transient, parse_timestamp
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.retry import retry_call
from fastapi_ci.rollout.backend import Observation, RolloutStart, poll_until_settled

# Swarm has no watch API for services; its own dispatcher reports task state about this often.
POLL_SECONDS = 0.2
FAILED_UPDATE_STATES = {"paused", "rollback_started", "rollback_paused", "rollback_completed"}
FAILED_TASK_STATES = {"failed", "rejected"}


def container_key(container_spec: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """What makes a task "the new version": its image and its environment."""
    return str(container_spec.get("Image", "")), tuple(sorted(container_spec.get("Env") or ()))


class SwarmBackend:
    """One Swarm service on the engine at DOCKER_HOST (or the local socket)."""

    name = "swarm"

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        login: RegistryLogin | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.engine = Engine(env, timeout=60)
        self.api = self.engine.client.api
        self.poll_seconds = poll_seconds
        self.wall = wall
        self.login = login
        self._logged_in: set[str] = set()

    def _log_in_for(self, image: str) -> None:
        """Log in to the registry `image` names (once), and to no other.

        The SDK keeps the login in memory and sends it as X-Registry-Auth with every service
        update, which is how the nodes get to pull (--with-registry-auth). A refused login
        is not retried: the same credentials get the same answer.
        """
        if self.login is None:
            return
        credentials = self.login.credentials_for(image)
        if credentials.registry in self._logged_in:
            return
        try:
            self._call(lambda: self.engine.login(credentials), f"login to {credentials.registry}")
        except RegistryError as error:
            raise CheckFailed(
                f"registry {credentials.registry} refused the login of "
                f"{credentials.username!r}: {error}",
                fix="check registry-username and registry-password (and registry, if set)",
            ) from None
        self._logged_in.add(credentials.registry)

    def _call(self, operation: Callable[[], Any], what: str) -> Any:
        import docker.errors

        try:
            return retry_call(operation, what=what, policy=API_RETRY, is_transient=is_transient)
        except docker.errors.NotFound:
            raise InputError(
                "service",
                f"no swarm service {self.service!r} on this engine",
                why="a rollout updates a service that exists; it never creates one",
                fix="create it first (docker service create ...), or check DOCKER_HOST",
                docs="rollout#rollout",
            ) from None
        except docker.errors.APIError as error:
            raise CheckFailed(
                f"the Swarm API refused {what}: {error.explanation or error}"
            ) from None

    def _inspect(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            lambda: self.api.inspect_service(self.service), f"inspect of service {self.service}"
        )
        return result

    def describe(self) -> str:
        """The service as named in messages."""
        return f"swarm service {self.service}"

    def current_image(self) -> str:
        """The image of the service's current spec."""
        return str(self._inspect()["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"])

    def previous_image(self) -> str | None:
        """The image of the spec Swarm keeps as the service's previous one."""
        previous = self._inspect().get("PreviousSpec")
        return str(previous["TaskTemplate"]["ContainerSpec"]["Image"]) if previous else None

    def resolve(self, image: str) -> str:
        """`repo:tag` → `repo:tag@sha256:…` as the registry has it now (what the CLI does)."""
        if "@sha256:" in image:
            return image
        import docker.errors

        self._log_in_for(image)
        try:
            found = self._call(
                lambda: self.api.inspect_distribution(image), f"digest lookup of {image}"
            )
        except CheckFailed as error:
            raise CheckFailed(
                f"cannot resolve {image} in its registry: {error.message}",
                why="Swarm nodes pull by digest, so the image must be pushed to a registry",
                fix="push the image first (build-push), and pass registry credentials",
            ) from None
        except docker.errors.DockerException as error:  # pragma: no cover - defensive
            raise CheckFailed(f"cannot resolve {image}: {error}") from None
        return f"{image}@{found['Descriptor']['digest']}"

    def set_image(self, image: str, env: dict[str, str]) -> RolloutStart:
        """Update the service's image (pinned) and env; start-first, pause on failure."""
        pinned = self.resolve(image)
        self._log_in_for(pinned)

        def update() -> RolloutStart:
            # Read and write in one retried unit: a version conflict re-reads the spec.
            service = self.api.inspect_service(self.service)
            spec = service["Spec"]
            template = copy.deepcopy(spec["TaskTemplate"])
            container = template["ContainerSpec"]
            previous = str(container["Image"])
            container["Image"] = pinned
            if env:
                kept = [e for e in container.get("Env") or () if e.split("=", 1)[0] not in env]
                container["Env"] = kept + [f"{key}={value}" for key, value in env.items()]
            if container_key(container) == container_key(spec["TaskTemplate"]["ContainerSpec"]):
                # The spec already asks for exactly this (a re-run after a rollout that was
                # never judged). Updating anyway would make Swarm's PreviousSpec this same
                # spec, and a rollback would then "return" to the failed version.
                before = service.get("PreviousSpec")
                return RolloutStart(
                    previous_image=str(before["TaskTemplate"]["ContainerSpec"]["Image"])
                    if before
                    else previous,
                    deployed_image=pinned,
                    started_at=self.wall(),
                )
            update_config = {
                **(spec.get("UpdateConfig") or {}),
                "Order": "start-first",
                "FailureAction": "pause",
            }
            started = self.wall()
            self.api.update_service(
                service["ID"],
                service["Version"]["Index"],
                task_template=template,
                update_config=update_config,
                fetch_current_spec=True,
            )
            return RolloutStart(previous_image=previous, deployed_image=pinned, started_at=started)

        result: RolloutStart = self._call(update, f"update of service {self.service}")
        return result

    def observe(self, expected_image: str) -> Observation:
        """Swarm's UpdateStatus plus the tasks: failed task of the new spec = failure."""
        service = self._inspect()
        spec = service["Spec"]
        wanted_spec = spec["TaskTemplate"]["ContainerSpec"]
        if str(wanted_spec.get("Image")) != expected_image:
            # Someone (or Swarm's own failure action) replaced the spec we are waiting for.
            return Observation(
                "failed", f"the service now asks for {wanted_spec.get('Image')}", signal_at=None
            )
        wanted = container_key(wanted_spec)
        status = service.get("UpdateStatus") or {}
        state = status.get("State")
        since = parse_timestamp(status.get("StartedAt")) or 0.0
        tasks: list[dict[str, Any]] = self._call(
            lambda: self.api.tasks(filters={"service": service["ID"]}), "task list"
        )
        new_tasks = [t for t in tasks if container_key(t["Spec"]["ContainerSpec"]) == wanted]
        failed = [
            t
            for t in new_tasks
            if t["Status"]["State"] in FAILED_TASK_STATES
            and (parse_timestamp(t["Status"].get("Timestamp")) or 0.0) >= since
        ]
        if failed:
            first = min(failed, key=lambda t: parse_timestamp(t["Status"].get("Timestamp")) or 0)
            return Observation(
                "failed",
                f"task {first['ID'][:12]} of {expected_image} {first['Status']['State']}: "
                f"{_task_error(first)}",
                signal_at=parse_timestamp(first["Status"].get("Timestamp")),
            )
        if state in FAILED_UPDATE_STATES:
            return Observation(
                "failed",
                f"Swarm update {state}: {status.get('Message', '')}",
                signal_at=parse_timestamp(status.get("CompletedAt")) or self.wall(),
            )
        # A task told to shut down keeps its container (and its share of the port) until it
        # has drained: "update completed" comes before that, so count what actually runs.
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        serving = tuple(sorted({str(t["Spec"]["ContainerSpec"]["Image"]) for t in running}))
        replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas")
        if replicas == 0:
            return Observation("failed", "0 replicas desired: no task would serve the new image")
        old = [t for t in running if container_key(t["Spec"]["ContainerSpec"]) != wanted]
        current = len(running) - len(old)
        enough = current >= int(replicas) if replicas is not None else current > 0
        if state in (None, "completed") and not old and enough:
            return Observation(
                "complete",
                f"{current} task(s) running {expected_image}"
                + (f" ({status.get('Message')})" if status.get("Message") else ""),
                serving=serving,
                signal_at=_completed_at(status, tasks, wanted, since),
            )
        return Observation(
            "progressing",
            f"update {state or 'not started'}: {current} of "
            f"{replicas if replicas is not None else '?'} task(s) on the new version, "
            f"{len(old)} old task(s) still running",
            serving=serving,
        )

    def wait(self, expected_image: str, deadline: float) -> Observation:
        """Poll until complete, failed, or the deadline (Swarm has no watch for services)."""
        return poll_until_settled(lambda: self.observe(expected_image), deadline, self.poll_seconds)

    def rollback(self) -> str:
        """Update the service back to its PreviousSpec's task template (start-first)."""

        def update() -> str:
            service = self.api.inspect_service(self.service)
            previous = service.get("PreviousSpec")
            if not previous:
                raise CheckFailed(
                    f"swarm service {self.service} has no previous spec",
                    why="a rollback returns to the version before this rollout, and the "
                    "orchestrator kept none (a first deploy, or its history was pruned)",
                    docs="wait-stable#wait-stable",
                )
            template = previous["TaskTemplate"]
            # The nodes that ran the previous version still hold its image: a wrong
            # password must not keep the failed version serving.
            with contextlib.suppress(CheckFailed):
                self._log_in_for(str(template["ContainerSpec"]["Image"]))
            self.api.update_service(
                service["ID"],
                service["Version"]["Index"],
                task_template=template,
                update_config=service["Spec"].get("UpdateConfig"),
                fetch_current_spec=True,
            )
            return str(template["ContainerSpec"]["Image"])

        result: str = self._call(update, f"rollback of service {self.service}")
        return result


def _completed_at(
    status: Mapping[str, Any],
    tasks: list[dict[str, Any]],
    wanted: tuple[str, tuple[str, ...]],
    since: float,
) -> float | None:
    """When the rollout became complete: the update done AND the last old task stopped."""
    times = [parse_timestamp(status.get("CompletedAt"))]
    times += [
        parse_timestamp(t["Status"].get("Timestamp"))
        for t in tasks
        if container_key(t["Spec"]["ContainerSpec"]) != wanted
        and (parse_timestamp(t["Status"].get("Timestamp")) or 0.0) >= since
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _task_error(task: Mapping[str, Any]) -> str:
    """A failed task's reason, with the container's exit code when there is one."""
    status = task["Status"]
    exit_code = status.get("ContainerStatus", {}).get("ExitCode")
    reason = status.get("Err") or status.get("Message") or "no reason given"
    return f"{reason}" + (f" (exit code {exit_code})" if exit_code is not None else "")
