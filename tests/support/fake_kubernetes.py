"""A fake Kubernetes API: the official client's models behind the calls the actions make,
with a scripted Job controller (migrate-once) and a scripted Deployment controller (rollout).

Why a fake, with a real cluster in the tests (FASTAPI_CI_KUBECONFIG, tests/integration/
test_kubernetes_*.py): a real controller cannot be held back. These tests need a state at a
chosen moment and for as long as the test asks: a Job between two statuses while the runner
must already have done something (`Pause`), a log that arrives split at chosen bytes, a
watch the server ends early or breaks (a reset, a 410 Gone), a pod stuck or unschedulable
for good, a stale `ProgressDeadlineExceeded` left by an earlier rollout, a Deployment whose
status moves one field at a time. What a real cluster does on its own (a healthy rollout, a
crash loop, a migration Job) runs against the real one in the integration tests.

Both controllers answer the SAME calls the code makes on a real cluster, through one
`FakeCluster` passed as `KubernetesApis`' batch, core and apps objects and its `watch`:

Jobs (`BatchV1Api.create_namespaced_job`, `list_namespaced_job` through
`watch.Watch().stream`, `read_namespaced_job_status`, `delete_namespaced_job`,
`CoreV1Api.list_namespaced_pod`/`read_namespaced_pod_log`, secrets, and
`AppsV1Api.read_namespaced_deployment` for the Deployment a Job copies its environment from).
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

Deployments (`deployment_cluster()`: `AppsV1Api.read_namespaced_deployment`,
`patch_namespaced_deployment`, `list_namespaced_deployment` through `watch.Watch().stream`,
`list_namespaced_replica_set`, `CoreV1Api.list_namespaced_pod`). Like the Deployment
controller it bumps `metadata.generation` on a template change, creates a ReplicaSet with
the next `deployment.kubernetes.io/revision` and a `pod-template-hash` label (or, for a
template equal to an old ReplicaSet's, re-uses that one with a new revision, as `rollout
undo` leads to), and then reports status as scripted: `observedGeneration`, `replicas`,
`updatedReplicas`, `availableReplicas` and the `Progressing` condition with its reason and
`lastUpdateTime`.
"""

from __future__ import annotations

import hashlib
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

from fastapi_ci.clients.kubernetes import KubernetesApis

STARTED = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
# The Deployment controller's clock, its Deployment's uid, and when a new pod crashed.
NOW = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)
UID = "5b1c-deploy-uid"
CRASHED_AT = NOW + timedelta(seconds=2)
Step = Callable[["FakeCluster"], None]


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


def template(image: str, env: dict[str, str] | None = None) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": "orders"}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="web",
                    image=image,
                    env=[client.V1EnvVar(name=k, value=v) for k, v in (env or {}).items()],
                )
            ]
        ),
    )


def progressing(reason: str, at: datetime, status: str = "True") -> client.V1DeploymentCondition:
    messages = {
        "NewReplicaSetAvailable": 'ReplicaSet "orders" has successfully progressed.',
        "ReplicaSetUpdated": 'ReplicaSet "orders" is progressing.',
        "ProgressDeadlineExceeded": 'ReplicaSet "orders" has timed out progressing.',
    }
    return client.V1DeploymentCondition(
        type="Progressing",
        status=status,
        reason=reason,
        message=messages[reason],
        last_update_time=at,
        last_transition_time=at,
    )


def _hash(spec: client.V1PodTemplateSpec) -> str:
    container = spec.spec.containers[0]
    env = sorted((e.name, e.value) for e in container.env or [])
    return hashlib.sha256(f"{container.image}{env}".encode()).hexdigest()[:10]


@dataclass
class FakeCluster:
    """One namespace's Jobs, pods and Deployments, with scripted Job and Deployment controllers.

    `statuses` is the Job controller's script after the Job is created: each `V1JobStatus`
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

    `deployments` are read by name; `deployment_cluster()` adds "orders", rolled by the
    Deployment controller: `plan` holds its next status changes (each Deployment watch event
    applies one), and after a patch `plans` (if any are left) supplies the next plan.
    """

    statuses: list[client.V1JobStatus | Output | Pause] = field(default_factory=list)
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
    # The Deployment controller's part (see deployment_cluster()).
    plans: list[list[Step]] = field(default_factory=list)
    plan: list[Step] = field(default_factory=list)
    replica_sets: list[client.V1ReplicaSet] = field(default_factory=list)
    pods: list[client.V1Pod] = field(default_factory=list)
    patches: list[Any] = field(default_factory=list)

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
        wanted = dict(item.split("=", 1) for item in label_selector.split(","))
        jobs_pods = [found for name in self.jobs if (found := self._pod(name)) is not None]
        return client.V1PodList(
            items=[
                pod
                for pod in [*self.pods, *jobs_pods]
                if all((pod.metadata.labels or {}).get(k) == v for k, v in wanted.items())
            ]
        )

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
        self.calls.append("read")
        found = self.deployments.get(name)
        if found is None or found.metadata.namespace not in (None, namespace):
            raise ApiException(status=404, reason="Not Found")
        return found

    # The Deployment controller (AppsV1Api)

    @property
    def deployment(self) -> client.V1Deployment:
        """The Deployment "orders" that deployment_cluster() rolls."""
        return self.deployments["orders"]

    def add_replica_set(self, spec: client.V1PodTemplateSpec, revision: int) -> client.V1ReplicaSet:
        pod_hash = _hash(spec)
        labeled = client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "orders", "pod-template-hash": pod_hash}),
            spec=spec.spec,
        )
        replica_set = client.V1ReplicaSet(
            metadata=client.V1ObjectMeta(
                name=f"orders-{pod_hash}",
                labels={"app": "orders", "pod-template-hash": pod_hash},
                annotations={"deployment.kubernetes.io/revision": str(revision)},
                owner_references=[
                    client.V1OwnerReference(
                        api_version="apps/v1", kind="Deployment", name="orders", uid=UID
                    )
                ],
            ),
            spec=client.V1ReplicaSetSpec(
                replicas=1, selector=client.V1LabelSelector(match_labels={}), template=labeled
            ),
        )
        self.replica_sets.append(replica_set)
        return replica_set

    @property
    def revision(self) -> int:
        return int(self.deployment.metadata.annotations["deployment.kubernetes.io/revision"])

    def new_pod_hash(self) -> str:
        return _hash(self.deployment.spec.template)

    def list_namespaced_deployment(self, namespace: str, **_: Any) -> client.V1DeploymentList:
        return client.V1DeploymentList(items=[self.deployment])

    def list_namespaced_replica_set(
        self, namespace: str, label_selector: str = ""
    ) -> client.V1ReplicaSetList:
        assert label_selector == "app=orders"
        return client.V1ReplicaSetList(items=list(self.replica_sets))

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> Any:
        self.patches.append(body)
        spec = self.deployment.spec
        if isinstance(body, list):  # JSON patch: replace the whole template (rollout undo)
            [operation] = body
            assert operation["op"] == "replace"
            assert operation["path"] == "/spec/template"
            value = operation["value"]
            assert "pod-template-hash" not in value["metadata"]["labels"]
            container = value["spec"]["containers"][0]
            env = {e["name"]: e["value"] for e in container.get("env") or []}
            spec.template = template(container["image"], env)
        else:  # strategic merge: containers and env merged by name
            [patch] = body["spec"]["template"]["spec"]["containers"]
            container = next(c for c in spec.template.spec.containers if c.name == patch["name"])
            env = {e.name: e.value for e in container.env or []}
            env.update({e["name"]: e["value"] for e in patch.get("env", [])})
            spec.template = template(patch["image"], env)
        self._template_changed()
        return self.deployment

    def _template_changed(self) -> None:
        """What the Deployment controller does when the pod template changes."""
        self.deployment.metadata.generation += 1
        revision = (
            max(
                int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
                for rs in self.replica_sets
                if rs.metadata.owner_references[0].uid == UID
            )
            + 1
        )
        existing = next(
            (
                rs
                for rs in self.replica_sets
                if rs.metadata.labels["pod-template-hash"] == self.new_pod_hash()
            ),
            None,
        )
        if existing is not None:
            existing.metadata.annotations["deployment.kubernetes.io/revision"] = str(revision)
        else:
            self.add_replica_set(self.deployment.spec.template, revision)
        self.deployment.metadata.annotations["deployment.kubernetes.io/revision"] = str(revision)
        self.plan = self.plans.pop(0) if self.plans else []

    # watch.Watch

    def watch(self) -> FakeWatch:
        return FakeWatch(self)

    def apis(self) -> KubernetesApis:
        """This cluster as the API objects the code is given (batch, core, apps, watch)."""
        return KubernetesApis(batch=self, core=self, apps=self, watch=self.watch)


@dataclass
class FakeWatch:
    """`watch.Watch`: `stream(list_function, namespace, **kwargs)` yields event dicts."""

    cluster: FakeCluster
    stopped: bool = False

    def stream(self, func: Any, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        assert kwargs["timeout_seconds"] >= 1
        if func == self.cluster.list_namespaced_deployment:
            yield from self._deployment_events(**kwargs)
            return
        assert func == self.cluster.list_namespaced_job, "watch Jobs or Deployments"
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

    def _deployment_events(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """ADDED, then one MODIFIED per step of the Deployment controller's plan."""
        assert kwargs["field_selector"] == "metadata.name=orders"
        self.cluster.calls.append("watch")
        yield {"type": "ADDED", "object": self.cluster.deployment}
        while self.cluster.plan and not self.stopped:
            self.cluster.plan.pop(0)(self.cluster)
            yield {"type": "MODIFIED", "object": self.cluster.deployment}

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


def deployment_cluster(
    image: str = "ghcr.io/acme/orders:v1",
    plans: list[list[Step]] | None = None,
    plan: list[Step] | None = None,
) -> FakeCluster:
    """A cluster with one Deployment "orders" (1 replica) in "shop", its ReplicaSets and pods."""
    cluster = FakeCluster(plans=plans or [], plan=plan or [])
    first = template(image)
    cluster.deployments["orders"] = client.V1Deployment(
        metadata=client.V1ObjectMeta(
            name="orders",
            namespace="shop",
            uid=UID,
            generation=1,
            annotations={"deployment.kubernetes.io/revision": "1"},
        ),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "orders"}),
            template=first,
            progress_deadline_seconds=600,
        ),
        status=client.V1DeploymentStatus(
            observed_generation=1,
            replicas=1,
            updated_replicas=1,
            ready_replicas=1,
            available_replicas=1,
            conditions=[progressing("NewReplicaSetAvailable", NOW - timedelta(days=1))],
        ),
    )
    cluster.add_replica_set(first, revision=1)
    # Someone else's ReplicaSet with the same labels: not ours (owner reference).
    stranger = cluster.add_replica_set(template("ghcr.io/acme/other:v9"), revision=7)
    stranger.metadata.owner_references[0].uid = "another-uid"
    return cluster


# --- the controller's status changes, as steps of a plan -------------------------------------


def observed(cluster: FakeCluster) -> None:
    """The controller saw the new generation and scaled up the new ReplicaSet (surge 1)."""
    status = cluster.deployment.status
    status.observed_generation = cluster.deployment.metadata.generation
    status.replicas, status.updated_replicas, status.available_replicas = 2, 1, 1
    status.conditions = [progressing("ReplicaSetUpdated", NOW)]


def new_pod_available(cluster: FakeCluster) -> None:
    """The new pod is available; the old one is still terminating."""
    status = cluster.deployment.status
    status.replicas, status.updated_replicas, status.available_replicas = 2, 1, 2


def old_replicas_gone(cluster: FakeCluster) -> None:
    status = cluster.deployment.status
    status.replicas, status.updated_replicas, status.available_replicas = 1, 1, 1
    status.conditions = [progressing("NewReplicaSetAvailable", NOW + timedelta(seconds=20))]


def new_pod_unavailable(cluster: FakeCluster) -> None:
    """The new pod exists but is not available yet (readiness probe failing, starting)."""
    status = cluster.deployment.status
    status.observed_generation = cluster.deployment.metadata.generation
    status.replicas, status.updated_replicas, status.available_replicas = 2, 1, 1
    status.conditions = [progressing("ReplicaSetUpdated", NOW)]


def deadline_exceeded(at: datetime) -> Step:
    def step(cluster: FakeCluster) -> None:
        cluster.deployment.status.conditions = [
            progressing("ProgressDeadlineExceeded", at, status="False")
        ]

    return step


def crash_looping(cluster: FakeCluster) -> None:
    """The new ReplicaSet's pod exits 2 at start and the kubelet backs off."""
    pod_hash = cluster.new_pod_hash()
    cluster.pods.append(
        client.V1Pod(
            metadata=client.V1ObjectMeta(
                name=f"orders-{pod_hash}-x7k2p",
                labels={"app": "orders", "pod-template-hash": pod_hash},
            ),
            status=client.V1PodStatus(
                phase="Running",
                container_statuses=[
                    client.V1ContainerStatus(
                        name="web",
                        image=cluster.deployment.spec.template.spec.containers[0].image,
                        image_id="",
                        ready=False,
                        restart_count=3,
                        state=client.V1ContainerState(
                            waiting=client.V1ContainerStateWaiting(
                                reason="CrashLoopBackOff",
                                message="back-off 40s restarting failed container=web",
                            )
                        ),
                        last_state=client.V1ContainerState(
                            # The real kubelet stamps every termination (seen on the
                            # real cluster): when it crashed is the failure's signal.
                            terminated=client.V1ContainerStateTerminated(
                                exit_code=2,
                                reason="Error",
                                started_at=CRASHED_AT - timedelta(seconds=1),
                                finished_at=CRASHED_AT,
                            )
                        ),
                    )
                ],
            ),
        )
    )


HEALTHY_ROLLOUT: list[Step] = [observed, new_pod_available, old_replicas_gone]
