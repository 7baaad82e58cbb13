"""A fake Kubernetes API for the Job runner: the official client's models, a scripted controller.

No API server can run here, so this stands in for one behind the SAME calls the runner makes
on a real cluster (`BatchV1Api.create_namespaced_job`, `list_namespaced_job` through
`watch.Watch().stream`, `read_namespaced_job_status`, `delete_namespaced_job`,
`CoreV1Api.list_namespaced_pod`/`read_namespaced_pod_log`, `AppsV1Api.read_namespaced_deployment`).
The Job's status moves through the states the Job controller reports (batch/v1): `active`
with `startTime`, then `succeeded` + `completionTime` + `SuccessCriteriaMet`/`Complete`, or
`failed` + `FailureTarget`/`Failed` with reason `BackoffLimitExceeded` or `DeadlineExceeded`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

STARTED = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def _condition(kind: str, reason: str, message: str) -> client.V1JobCondition:
    return client.V1JobCondition(
        type=kind,
        status="True",
        reason=reason,
        message=message,
        last_probe_time=STARTED + timedelta(seconds=5),
        last_transition_time=STARTED + timedelta(seconds=5),
    )


def running() -> client.V1JobStatus:
    """The pod is running: `active: 1`, a start time, no conditions yet."""
    return client.V1JobStatus(active=1, ready=1, start_time=STARTED, terminating=0)


def succeeded() -> client.V1JobStatus:
    """What the controller writes when the one pod exits 0 (Kubernetes >= 1.31)."""
    message = "Reached expected number of succeeded pods"
    return client.V1JobStatus(
        succeeded=1,
        ready=0,
        terminating=0,
        start_time=STARTED,
        completion_time=STARTED + timedelta(seconds=5),
        conditions=[
            _condition("SuccessCriteriaMet", "CompletionsReached", message),
            _condition("Complete", "CompletionsReached", message),
        ],
    )


def failed(reason: str = "BackoffLimitExceeded") -> client.V1JobStatus:
    """The pod failed (backoffLimit 0), or the Job outlived activeDeadlineSeconds."""
    message = {
        "BackoffLimitExceeded": "Job has reached the specified backoff limit",
        "DeadlineExceeded": "Job was active longer than specified deadline",
    }[reason]
    return client.V1JobStatus(
        failed=1,
        ready=0,
        terminating=0,
        start_time=STARTED,
        conditions=[
            _condition("FailureTarget", reason, message),
            _condition("Failed", reason, message),
        ],
    )


def terminated_pod(job_name: str, exit_code: int, reason: str) -> client.V1Pod:
    """The Job's pod after its container exited."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"{job_name}-x7k2p", labels={"job-name": job_name}),
        status=client.V1PodStatus(
            phase="Succeeded" if exit_code == 0 else "Failed",
            container_statuses=[
                client.V1ContainerStatus(
                    name="migrate",
                    image="img",
                    image_id="img@sha256:0",
                    ready=False,
                    restart_count=0,
                    state=client.V1ContainerState(
                        terminated=client.V1ContainerStateTerminated(
                            exit_code=exit_code, reason=reason
                        )
                    ),
                )
            ],
        ),
    )


def waiting_pod(job_name: str, reason: str, message: str) -> client.V1Pod:
    """The Job's pod stuck before its container started (an image that cannot be pulled)."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"{job_name}-x7k2p", labels={"job-name": job_name}),
        status=client.V1PodStatus(
            phase="Pending",
            container_statuses=[
                client.V1ContainerStatus(
                    name="migrate",
                    image="img",
                    image_id="",
                    ready=False,
                    restart_count=0,
                    state=client.V1ContainerState(
                        waiting=client.V1ContainerStateWaiting(reason=reason, message=message)
                    ),
                )
            ],
        ),
    )


@dataclass
class FakeCluster:
    """One namespace's Jobs, pods and Deployments, with a scripted Job controller.

    `statuses` are what the controller reports, in order, after the Job is created; each
    becomes a MODIFIED watch event. `watch_stops_after` ends a watch stream early (what an
    API server does at `timeout_seconds`); `watch_error` breaks one stream with an error
    (a reset connection, a 410 Gone for an expired resourceVersion).
    """

    statuses: list[client.V1JobStatus]
    pod: Any = None  # a function job_name -> V1Pod, or None for "no pod was created"
    log: str = ""
    deployments: dict[str, client.V1Deployment] = field(default_factory=dict)
    watch_stops_after: int | None = None
    # Raised by the first watch after its first event: a connection the API server reset.
    watch_error: Exception | None = None
    create_failures: list[ApiException] = field(default_factory=list)
    jobs: dict[str, client.V1Job] = field(default_factory=dict)
    deleted: list[tuple[str, str | None]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    # BatchV1Api

    def create_namespaced_job(self, namespace: str, body: client.V1Job) -> client.V1Job:
        self.calls.append("create_namespaced_job")
        if self.create_failures:
            raise self.create_failures.pop(0)
        body.status = client.V1JobStatus()
        self.jobs[body.metadata.name] = body
        return body

    def list_namespaced_job(
        self, namespace: str, field_selector: str = "", **_: Any
    ) -> client.V1JobList:
        name = field_selector.removeprefix("metadata.name=")
        return client.V1JobList(items=[job for n, job in self.jobs.items() if n == name])

    def read_namespaced_job_status(self, name: str, namespace: str) -> client.V1Job:
        self.calls.append("read_namespaced_job_status")
        self._advance(name)
        return self.jobs[name]

    def delete_namespaced_job(
        self, name: str, namespace: str, propagation_policy: str | None = None
    ) -> client.V1Status:
        self.deleted.append((name, propagation_policy))
        return client.V1Status(status="Success")

    def _advance(self, name: str) -> bool:
        """Move the Job to the controller's next reported state; False when none is left."""
        if not self.statuses:
            return False
        self.jobs[name].status = self.statuses.pop(0)
        return True

    # CoreV1Api

    def list_namespaced_pod(self, namespace: str, label_selector: str = "") -> client.V1PodList:
        job_name = label_selector.removeprefix("job-name=")
        return client.V1PodList(items=[self.pod(job_name)] if self.pod else [])

    def read_namespaced_pod_log(self, name: str, namespace: str, container: str = "") -> str:
        assert container == "migrate"
        if not self.log:
            raise ApiException(status=400, reason="Bad Request")
        return self.log

    # AppsV1Api

    def read_namespaced_deployment(self, name: str, namespace: str) -> client.V1Deployment:
        if name not in self.deployments:
            raise ApiException(status=404, reason="Not Found")
        return self.deployments[name]

    # watch.Watch

    def watch(self) -> FakeWatch:
        return FakeWatch(self)


@dataclass
class FakeWatch:
    """`watch.Watch`: `stream(list_function, namespace, **kwargs)` yields event dicts."""

    cluster: FakeCluster
    stopped: bool = False

    def stream(self, func: Any, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        assert func == self.cluster.list_namespaced_job, "the runner must watch Jobs"
        assert kwargs["timeout_seconds"] >= 1
        name = kwargs["field_selector"].removeprefix("metadata.name=")
        self.cluster.calls.append("watch")
        yield {"type": "ADDED", "object": self.cluster.jobs[name]}
        if self.cluster.watch_error is not None:
            error, self.cluster.watch_error = self.cluster.watch_error, None
            raise error
        emitted = 0
        stops_after = self.cluster.watch_stops_after
        while not self.stopped:
            if stops_after is not None and emitted >= stops_after:
                return
            if not self.cluster._advance(name):
                return
            emitted += 1
            yield {"type": "MODIFIED", "object": self.cluster.jobs[name]}

    def stop(self) -> None:
        self.stopped = True


def deployment(name: str, container: client.V1Container) -> client.V1Deployment:
    """A Deployment whose pod template the Job copies env, envFrom and its account from."""
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="sidecar", image="proxy"), container],
                    service_account_name="orders-migrator",
                    image_pull_secrets=[client.V1LocalObjectReference(name="ghcr")],
                ),
            ),
        ),
    )
