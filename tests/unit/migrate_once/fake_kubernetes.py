"""A fake Kubernetes API for the Job runner: the official client's models, a scripted controller.

No API server can run here, so this stands in for one behind the SAME calls the runner makes
on a real cluster (`BatchV1Api.create_namespaced_job`, `list_namespaced_job` through
`watch.Watch().stream`, `read_namespaced_job_status`, `delete_namespaced_job`,
`CoreV1Api.list_namespaced_pod`/`read_namespaced_pod_log`, `AppsV1Api.read_namespaced_deployment`).
The Job's status moves through the states the Job controller reports (batch/v1): `active`
with `startTime`, then `succeeded` + `completionTime` + `SuccessCriteriaMet`/`Complete`, or
`failed` + `FailureTarget`/`Failed` with reason `BackoffLimitExceeded` or `DeadlineExceeded`.

The Job's pod follows its status as the kubelet reports it: Pending (container waiting,
`ContainerCreating`) before the Job is active, Running while it is, Terminated with the
container's exit code once it has finished; or stuck waiting (`ImagePullBackOff`) for good.

The pod's log is what its container wrote so far. `read_namespaced_pod_log(...,
follow=True, _preload_content=False)` returns what the real client returns: a urllib3
`HTTPResponse` over a real socket, with a chunked body (as the API server sends a followed
log) whose chunks are written as the container writes, and which ends when the container
exits. Reading it with `.stream()` blocks until the next chunk, exactly as on a cluster.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
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


def pod(job_name: str, phase: str, state: client.V1ContainerState) -> client.V1Pod:
    """The Job's pod (its name: the Job's and a suffix; its label: `job-name`)."""
    started = state.running is not None or state.terminated is not None
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"{job_name}-x7k2p", labels={"job-name": job_name}),
        status=client.V1PodStatus(
            phase=phase,
            container_statuses=[
                client.V1ContainerStatus(
                    name="migrate",
                    image="img",
                    image_id="img@sha256:0" if started else "",
                    ready=state.running is not None,
                    restart_count=0,
                    state=state,
                )
            ],
        ),
    )


def terminated_pod(job_name: str, exit_code: int, reason: str) -> client.V1Pod:
    """The Job's pod after its container exited."""
    terminated = client.V1ContainerStateTerminated(exit_code=exit_code, reason=reason)
    return pod(
        job_name,
        "Succeeded" if exit_code == 0 else "Failed",
        client.V1ContainerState(terminated=terminated),
    )


def running_pod(job_name: str) -> client.V1Pod:
    """The Job's pod while its container runs."""
    running = client.V1ContainerStateRunning(started_at=STARTED + timedelta(seconds=1))
    return pod(job_name, "Running", client.V1ContainerState(running=running))


def waiting_pod(job_name: str, reason: str, message: str | None = None) -> client.V1Pod:
    """The Job's pod before its container started (being created, or an image not pulled)."""
    waiting = client.V1ContainerStateWaiting(reason=reason, message=message)
    return pod(job_name, "Pending", client.V1ContainerState(waiting=waiting))


def unschedulable_pod(job_name: str, message: str) -> client.V1Pod:
    """The Job's pod that no node can take: no container status yet, a scheduler condition."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"{job_name}-x7k2p", labels={"job-name": job_name}),
        status=client.V1PodStatus(
            phase="Pending",
            conditions=[
                client.V1PodCondition(
                    type="PodScheduled", status="False", reason="Unschedulable", message=message
                )
            ],
        ),
    )


def _finished(status: client.V1JobStatus | None) -> bool:
    return any(
        c.type in ("Complete", "Failed") and c.status == "True"
        for c in (status.conditions if status else None) or []
    )


@dataclass
class Pause:
    """A point in the controller's script where it waits until `until()` holds.

    How a test says "the runner must have done this while the Job was still in the state
    before": if it never happens (the runner waits for the Job's end to do it), the
    controller fails the test after `timeout` seconds instead of moving on.
    """

    until: Callable[[], bool]
    what: str
    timeout: float = 5.0

    def wait(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.until():
            if time.monotonic() > deadline:
                raise AssertionError(f"the controller waited {self.timeout}s for: {self.what}")
            time.sleep(0.01)


@dataclass
class Output:
    """A point in the controller's script where the container writes more to its log."""

    text: str


@dataclass
class LogStream:
    """One followed log: the server's end of a socket the runner's HTTPResponse reads."""

    server: socket.socket
    chunk_size: int | None
    open: bool = True

    def send(self, data: bytes) -> None:
        """Send `data` as HTTP chunks (split every `chunk_size` bytes, as a test asks)."""
        size = self.chunk_size or max(1, len(data))
        try:
            for start in range(0, len(data), size):
                piece = data[start : start + size]
                self.server.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except OSError:  # the runner hung up: nobody reads this stream any more
            self.open = False
            self.server.close()

    def end(self) -> None:
        """The container exited (or its pod was deleted): the last, empty chunk."""
        if self.open:
            self.open = False
            try:
                self.server.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the runner hung up first
            finally:
                self.server.close()


def streamed_response(stream: LogStream, client_side: socket.socket) -> urllib3.HTTPResponse:
    """What `read_namespaced_pod_log(..., _preload_content=False)` returns: built the way
    urllib3's `HTTPConnection.getresponse` builds it, over the socket the server writes to."""
    raw = http.client.HTTPResponse(client_side, method="GET")
    raw.begin()
    return urllib3.HTTPResponse(
        body=raw,
        headers=urllib3.HTTPHeaderDict(raw.msg.items()),
        status=raw.status,
        version=raw.version,
        reason=raw.reason,
        preload_content=False,
        decode_content=True,
        original_response=raw,
        request_method="GET",
        connection=client_side,  # type: ignore[arg-type]  # closed with the response
        sock_shutdown=client_side.shutdown,
    )


@dataclass
class FakeCluster:
    """One namespace's Jobs, pods and Deployments, with a scripted Job controller.

    `statuses` is the controller's script after the Job is created: each `V1JobStatus`
    becomes a MODIFIED watch event; an `Output` is more log written by the container; a
    `Pause` waits for the runner to have done something. `watch_stops_after` ends a watch
    stream early (what an API server does at `timeout_seconds`); `watch_error` breaks one
    stream with an error (a reset connection, a 410 Gone for an expired resourceVersion).

    The pod follows the Job (see the module's docstring) and exits with `exit_code`;
    `stuck` = (reason, message) keeps it waiting for good; `unschedulable` keeps it
    unscheduled; `creates_pod=False` means the controller never made one. `log` is what the
    container writes as soon as it runs; `chunk_size` splits what a followed log sends into
    chunks of that many bytes; `stream_hangs` keeps followed streams open after the
    container exits (a connection that died without a word), until the Job is deleted.
    """

    statuses: list[client.V1JobStatus | Output | Pause]
    log: str = ""
    exit_code: int = 0
    stuck: tuple[str, str] | None = None
    unschedulable: str | None = None
    creates_pod: bool = True
    chunk_size: int | None = None
    stream_hangs: bool = False
    deployments: dict[str, client.V1Deployment] = field(default_factory=dict)
    watch_stops_after: int | None = None
    # Raised by the first watch after its first event: a connection the API server reset.
    watch_error: Exception | None = None
    create_failures: list[ApiException] = field(default_factory=list)
    jobs: dict[str, client.V1Job] = field(default_factory=dict)
    deleted: list[tuple[str, str | None]] = field(default_factory=list)
    secrets: dict[str, client.V1Secret] = field(default_factory=dict)
    deleted_secrets: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    written: str = ""
    streams: list[LogStream] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # BatchV1Api

    def create_namespaced_job(self, namespace: str, body: client.V1Job) -> client.V1Job:
        self.calls.append("create_namespaced_job")
        if self.create_failures:
            raise self.create_failures.pop(0)
        body.status = client.V1JobStatus()
        body.metadata.uid = f"uid-{body.metadata.name}"
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
        with self.lock:  # the pod goes: every stream of its log ends
            for stream in self.streams:
                stream.end()
        return client.V1Status(status="Success")

    def _advance(self, name: str) -> bool:
        """Play the controller's script to its next Job status; False when none is left."""
        while self.statuses:
            step = self.statuses.pop(0)
            if isinstance(step, Pause):
                step.wait()
            elif isinstance(step, Output):
                self._write(step.text)
            else:
                with self.lock:
                    self.jobs[name].status = step
                    if self._container_running(name) and not self.written:
                        self._write(self.log)
                    if _finished(step) and not self.stream_hangs:
                        for stream in self.streams:
                            stream.end()
                return True
        return False

    def _write(self, text: str) -> None:
        with self.lock:
            self.written += text
            for stream in self.streams:
                if stream.open:
                    stream.send(text.encode())

    # The kubelet's view of the Job's pod

    def _pod(self, job_name: str) -> client.V1Pod | None:
        if not self.creates_pod or job_name not in self.jobs:
            return None
        status = self.jobs[job_name].status
        if self.stuck is not None:
            return waiting_pod(job_name, *self.stuck)
        if self.unschedulable is not None:
            return unschedulable_pod(job_name, self.unschedulable)
        if _finished(status):
            reason = "Completed" if self.exit_code == 0 else "Error"
            return terminated_pod(job_name, self.exit_code, reason)
        if status.active:
            return running_pod(job_name)
        return waiting_pod(job_name, "ContainerCreating")

    def _container_running(self, job_name: str) -> bool:
        found = self._pod(job_name)
        statuses = (found.status.container_statuses if found else None) or []
        state = statuses[0].state if statuses else None
        return bool(state and (state.running or state.terminated))

    # CoreV1Api

    def list_namespaced_pod(self, namespace: str, label_selector: str = "") -> client.V1PodList:
        job_name = label_selector.removeprefix("job-name=")
        found = self._pod(job_name)
        return client.V1PodList(items=[found] if found else [])

    def read_namespaced_pod_log(
        self,
        name: str,
        namespace: str,
        container: str = "",
        follow: bool = False,
        _preload_content: bool = True,
    ) -> str | urllib3.HTTPResponse:
        assert container == "migrate"
        self.calls.append("read_namespaced_pod_log" + (" follow" if follow else ""))
        job_name = name.removesuffix("-x7k2p")
        if self._pod(job_name) is None:
            raise ApiException(status=404, reason="Not Found")
        if not self._container_running(job_name):
            # What the API server answers for a container that has not started.
            raise ApiException(status=400, reason="Bad Request")
        if _preload_content:
            assert not follow, "a followed log must be streamed (_preload_content=False)"
            return self.written
        server, client_side = socket.socketpair()
        stream = LogStream(server=server, chunk_size=self.chunk_size)
        with self.lock:
            server.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            stream.send(self.written.encode())
            if follow and not _finished(self.jobs[job_name].status):
                self.streams.append(stream)
            elif not (follow and self.stream_hangs):
                stream.end()
            else:
                self.streams.append(stream)
        return streamed_response(stream, client_side)

    # AppsV1Api

    def create_namespaced_secret(self, namespace: str, body: client.V1Secret) -> client.V1Secret:
        self.calls.append("create_namespaced_secret")
        self.secrets[body.metadata.name] = body
        return body

    def patch_namespaced_secret(
        self, name: str, namespace: str, body: dict[str, Any]
    ) -> client.V1Secret:
        self.calls.append("patch_namespaced_secret")
        secret = self.secrets[name]
        secret.metadata.owner_references = [  # as the API server answers: typed references
            client.V1OwnerReference(
                api_version=each["apiVersion"],
                kind=each["kind"],
                name=each["name"],
                uid=each["uid"],
                block_owner_deletion=each.get("blockOwnerDeletion"),
            )
            for each in body["metadata"]["ownerReferences"]
        ]
        return secret

    def delete_namespaced_secret(self, name: str, namespace: str) -> client.V1Status:
        self.calls.append("delete_namespaced_secret")
        self.deleted_secrets.append(name)
        return client.V1Status(status="Success")

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
