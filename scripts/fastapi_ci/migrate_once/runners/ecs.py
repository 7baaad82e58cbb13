"""The ecs runner: `RunTask` with the new task definition and a command override.

The task runs like the service would (its network configuration and launch type, when
`service` is given), the runner polls `DescribeTasks` until the task is STOPPED, and the
migration container's `exitCode` decides: a task that stopped without one never ran the
migration (image pull failure, no capacity) and fails with ECS's `stopCode`/`stoppedReason`.
Logs come from CloudWatch when the container logs with the `awslogs` driver.

botocore retries throttling and transient errors itself (standard mode, below), so the
calls here are plain. The ECS and CloudWatch Logs clients are injected for tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi_ci.action_io import Console
from fastapi_ci.clients.ecs import container_name, make_client, register_revision
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome

STARTED_BY = "fastapi-ci-migrate"
SERVICE_LAUNCH_FIELDS = (
    "networkConfiguration",
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
)
LOG_PAGES_MAX = 50


@dataclass
class EcsRunner:
    """Run the migration as one ECS task in `cluster`."""

    ecs: Any
    logs: Any
    cluster: str
    task_definition: str
    service: str | None = None
    container: str | None = None
    poll_seconds: float = 6.0
    name: str = "ecs"

    @classmethod
    def from_environment(
        cls, *, cluster: str, task_definition: str, service: str | None, container: str | None
    ) -> EcsRunner:
        """Clients from the usual AWS environment (region, credentials, AWS_ENDPOINT_URL)."""
        return cls(
            ecs=make_client("ecs"),
            logs=make_client("logs"),
            cluster=cluster,
            task_definition=task_definition,
            service=service,
            container=container,
        )

    def run(self, job: MigrationJob, console: Console) -> RunOutcome:
        """Start the task, wait for STOPPED (or stop it at the timeout), judge, fetch logs."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._run(job, console)
        except ClientError as error:
            raise CheckFailed(f"ECS refused: {error}") from None
        except BotoCoreError as error:
            raise CheckFailed(f"cannot reach ECS: {error}") from None

    def _task_definition(self, image: str | None, console: Console) -> dict[str, Any]:
        described: dict[str, Any] = self.ecs.describe_task_definition(
            taskDefinition=self.task_definition
        )["taskDefinition"]
        if image is None:
            return described
        container = self._container_name(described)
        registered = register_revision(self.ecs, described, container, image)
        console.info(f"registered {registered['taskDefinitionArn']} with {image}")
        return registered

    def _container_name(self, task_definition: dict[str, Any]) -> str:
        return container_name(
            task_definition, self.container, f"task definition {self.task_definition}"
        )

    def _launch_settings(self) -> dict[str, Any]:
        if not self.service:
            return {}
        response = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        if not response["services"]:
            raise InputError("service", f"no service {self.service} in cluster {self.cluster}")
        service = response["services"][0]
        return {k: service[k] for k in SERVICE_LAUNCH_FIELDS if service.get(k)}

    def _run(self, job: MigrationJob, console: Console) -> RunOutcome:
        task_definition = self._task_definition(job.image, console)
        container = self._container_name(task_definition)
        override: dict[str, Any] = {"name": container, "command": job.command}
        if job.env:
            override["environment"] = [{"name": k, "value": v} for k, v in job.env.items()]
        response = self.ecs.run_task(
            cluster=self.cluster,
            taskDefinition=task_definition["taskDefinitionArn"],
            count=1,
            startedBy=STARTED_BY,
            overrides={"containerOverrides": [override]},
            **self._launch_settings(),
        )
        if response.get("failures") or not response.get("tasks"):
            failure = (response.get("failures") or [{}])[0]
            raise CheckFailed(
                "ECS could not start the migration task: "
                f"{failure.get('reason', 'no task started')} {failure.get('detail', '')}".strip()
            )
        task_arn = response["tasks"][0]["taskArn"]
        console.info(f"started task {task_arn}")
        task = self.wait_until_stopped(task_arn, job.timeout_seconds, console)
        where = f"task {task_arn}"
        logs = self.fetch_logs(task_definition, container, task_arn)
        for line in logs.splitlines():
            console.info(line)
        if task is None:
            return RunOutcome(
                exit_code=None,
                logs=logs,
                where=where,
                failure=f"timed out after {job.timeout_seconds:.0f}s (task stopped)",
            )
        state: dict[str, Any] = next(
            (c for c in task.get("containers", []) if c["name"] == container), {}
        )
        exit_code = state.get("exitCode")
        failure = ""
        if exit_code is None:
            why = f"{task.get('stopCode', '')}: {task.get('stoppedReason', '')}".strip(": ")
            if state.get("reason"):
                why += f" ({state['reason']})"
            failure = f"the task stopped before the migration ran: {why}"
        return RunOutcome(
            exit_code=exit_code,
            logs=logs,
            where=where,
            failure=failure,
            details={"stop_code": str(task.get("stopCode", ""))},
        )

    def wait_until_stopped(
        self, task_arn: str, timeout: float, console: Console
    ) -> dict[str, Any] | None:
        """Poll until the task is STOPPED; at the timeout stop it and return None."""
        deadline = time.monotonic() + timeout
        last_status = ""
        while True:
            task: dict[str, Any] = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn])[
                "tasks"
            ][0]
            if task["lastStatus"] != last_status:
                last_status = task["lastStatus"]
                console.info(f"task is {last_status}")
            if last_status == "STOPPED":
                return task
            if time.monotonic() >= deadline:
                self.ecs.stop_task(
                    cluster=self.cluster, task=task_arn, reason="fastapi-ci migrate-once timeout"
                )
                return None
            time.sleep(self.poll_seconds)

    def fetch_logs(self, task_definition: dict[str, Any], container: str, task_arn: str) -> str:
        """The container's CloudWatch log (awslogs driver), or a note saying why there is none."""
        definition = next(
            c for c in task_definition["containerDefinitions"] if c["name"] == container
        )
        log_config = definition.get("logConfiguration") or {}
        options = log_config.get("options") or {}
        if log_config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
            return "(the container does not log to CloudWatch: no logs to show)\n"
        prefix = options.get("awslogs-stream-prefix")
        task_id = task_arn.rsplit("/", 1)[-1]
        if not prefix:
            return "(awslogs without a stream prefix: the log stream cannot be found)\n"
        stream = f"{prefix}/{container}/{task_id}"
        lines: list[str] = []
        token: str | None = None
        from botocore.exceptions import ClientError

        try:
            for _ in range(LOG_PAGES_MAX):
                page = self.logs.get_log_events(
                    logGroupName=options["awslogs-group"],
                    logStreamName=stream,
                    startFromHead=True,
                    **({"nextToken": token} if token else {}),
                )
                lines += [event["message"] for event in page["events"]]
                if page.get("nextForwardToken") in (None, token):
                    break
                token = page["nextForwardToken"]
        except ClientError as error:  # a task that never started has no stream
            lines.append(f"(no log from {stream}: {error.response['Error']['Code']})")
        return "".join(line + "\n" for line in lines)
