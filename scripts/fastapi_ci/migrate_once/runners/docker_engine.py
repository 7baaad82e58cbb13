"""The docker runner: one container from the new image on the local (or `DOCKER_HOST`) engine.

`--network host` so a database the runner reaches on 127.0.0.1 (a service container, an
SSH tunnel) is reached the same way from the container; the exit code decides.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi_ci.action_io import Console
from fastapi_ci.clients.registry import RegistryErrorKind, classify_error
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome, log_lines
from fastapi_ci.retry import TransientError, retry_call

# Seconds the engine gives the container between SIGTERM and SIGKILL on a timeout.
STOP_GRACE_SECONDS = 10
MANAGED_BY_LABEL = {
    "app.kubernetes.io/managed-by": "fastapi-ci",
    "fastapi-ci/action": "migrate-once",
}


def pump_chunks(chunks: Iterator[bytes], console: Console, into: list[str]) -> None:
    """Echo a container's log stream line by line as it arrives, keeping every line."""
    for line in log_lines(chunks):
        into.append(line)
        console.info(line.rstrip("\n"))


@dataclass
class DockerRunner:
    """Run the job's command in a fresh container of the job's image, then remove it."""

    name: str = "docker"

    def run(self, job: MigrationJob, console: Console) -> RunOutcome:
        """Pull the image if it is missing, run it to its exit (or the timeout), clean up."""
        import docker  # the SDK is imported only by the runner that needs it (startup time)
        import docker.errors
        import requests.exceptions

        assert job.image is not None
        try:
            client = docker.from_env(timeout=int(job.timeout_seconds) + 30)
            client.ping()
        except docker.errors.DockerException as error:
            raise CheckFailed(
                f"the Docker engine is not reachable: {error}",
                fix="start the engine, or point DOCKER_HOST at one",
            ) from None
        self._ensure_image(client, job.image, console)
        # create + start rather than run(): a container that fails to start is still
        # removed, and the reason names the input that caused it.
        container = client.containers.create(
            job.image,
            command=job.command,
            environment=job.env,
            network_mode="host",
            labels=MANAGED_BY_LABEL,
        )
        try:
            container.start()
        except docker.errors.APIError as error:
            container.remove(force=True)
            reason = str(getattr(error, "explanation", None) or error)
            if "executable file not found" in reason or "no such file" in reason.lower():
                raise InputError(
                    "command",
                    f"{job.command[0]!r} is not in {job.image}",
                    why="the migration runs in the NEW image, with the tools it holds",
                    fix="install it in the image, or give its full path there",
                    docs="migrate-once#migrate-once",
                ) from None
            raise CheckFailed(f"the migration container did not start: {reason}") from None
        lines: list[str] = []
        reader = threading.Thread(
            target=pump_chunks,
            args=(container.logs(stream=True, follow=True), console, lines),
            daemon=True,
        )
        reader.start()
        failure = ""
        exit_code: int | None = None
        try:
            status: dict[str, Any] = container.wait(timeout=job.timeout_seconds)
            exit_code = int(status.get("StatusCode", -1))
        except requests.exceptions.RequestException:  # the wait's read timed out
            failure = f"timed out after {job.timeout_seconds:.0f}s"
            container.stop(timeout=STOP_GRACE_SECONDS)
        finally:
            reader.join(timeout=30)
            try:
                container.remove(force=True)
            except docker.errors.APIError as error:
                console.warning(f"could not remove container {container.short_id}: {error}")
        return RunOutcome(
            exit_code=exit_code,
            logs="".join(lines),
            where=f"container {container.short_id} of {job.image}",
            failure=failure,
        )

    @staticmethod
    def _ensure_image(client: Any, image: str, console: Console) -> None:
        import docker.errors

        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            console.info(f"{image} is not on the engine; pulling it")
        except docker.errors.APIError as error:  # e.g. "invalid reference format"
            reason = getattr(error, "explanation", None) or str(error)
            raise InputError("image", f"{image!r}: {reason}") from None

        def pull() -> None:
            try:
                client.images.pull(image)
            except docker.errors.APIError as error:
                reason = str(getattr(error, "explanation", None) or error)
                if classify_error(reason) is RegistryErrorKind.TRANSIENT:
                    raise TransientError(reason) from None
                raise InputError(
                    "image", f"{image} is not on the engine and cannot be pulled: {reason}"
                ) from None

        retry_call(pull, what=f"pull of {image}")
