"""The kubernetes runner: a one-shot Job from the new image, watched until Complete or Failed.

`kubectl wait --for=condition=complete` cannot also stop on `Failed` (it waits out its
timeout on a failed Job), so the Job is WATCHED here and the wait ends on whichever of the
two conditions comes first, bounded by the timeout. The Job is built to run once:
`backoffLimit: 0` (a failed migration is not retried blindly), `activeDeadlineSeconds`
(Kubernetes itself stops it at the timeout), `ttlSecondsAfterFinished` (the cluster cleans
up even if this process dies before its own cleanup).

The variables the step gives the migration (`database-url`, `env`: secrets, by design) go
into a Secret the Job reads with `secretKeyRef`, never into the Job's spec, which anyone who
may `get jobs` reads in plain text. The Secret is owned by the Job, so the cluster deletes it
with the Job (the TTL), and this runner deletes both when it is done.

While the Job runs, its pod's log is STREAMED (`PodLogFollower`: `read_namespaced_pod_log`
with `follow=True` in a background thread), so each line shows when the migration writes it.
When the Job has ended the log is read once more, whole: lines the stream missed (it broke,
or never ended and was given up) are still shown, and judged. A pod that cannot start
(its image cannot be pulled, a missing secret) fails the step at once, as the rollout does,
instead of after the timeout.

Everything goes through the official client's `BatchV1Api`, `CoreV1Api`, `AppsV1Api` and
`watch.Watch`, injected as `KubernetesApis`, so tests drive the identical code path with a
fake cluster. The client set-up and retries are shared with the rollout
(`fastapi_ci.clients.kubernetes`).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi_ci.action_io import Console
from fastapi_ci.clients.kubernetes import (
    STUCK_REASONS,
    WATCH_SLICE_SECONDS,
    KubernetesApis,
    call_api,
    find_container,
)
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome, log_lines

# Kept a day after it finishes for `kubectl logs`, unless this runner deletes it first.
JOB_TTL_SECONDS = 86400
MIGRATION_CONTAINER = "migrate"
# Waiting a little past the Job's own deadline lets the controller report DeadlineExceeded.
DEADLINE_GRACE_SECONDS = 30
# Once the Job has ended its container has exited, and the kubelet ends the log stream:
# give it this long to deliver the last lines before the stream is given up.
LOG_DRAIN_SECONDS = 10.0
LABELS = {"app.kubernetes.io/managed-by": "fastapi-ci", "fastapi-ci/action": "migrate-once"}


def migration_container_state(pod: Any) -> Any:
    """The `V1ContainerState` of the migration container, None before the kubelet reports it."""
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.name == MIGRATION_CONTAINER:
            return status.state
    return None


def pod_waiting_note(pod: Any) -> tuple[str, str]:
    """(reason, "reason: message") of a pod whose container has not started; ("", "") else."""
    state = migration_container_state(pod)
    if state is not None and state.waiting is not None:
        waiting = state.waiting
        return waiting.reason or "", f"{waiting.reason}: {waiting.message or ''}".rstrip(": ")
    if state is None:  # not even scheduled yet? the scheduler says why
        for condition in (pod.status.conditions if pod.status else None) or []:
            if condition.type == "PodScheduled" and condition.status == "False":
                note = f"{condition.reason}: {condition.message or ''}".rstrip(": ")
                return condition.reason or "", note
    return "", ""


def _interrupt(response: Any) -> None:
    """Unblock a thread reading `response` (urllib3 >= 2.3 can shut its socket down)."""
    if response is None:
        return
    try:
        response.shutdown()
    except Exception:  # no socket to shut down: the daemon thread is left muted instead
        return


@dataclass
class PodLogFollower:
    """Streams the log of a Job's pod to the console, in a background thread, as it is written.

    The thread waits for the pod's container to be running (or already terminated), then
    follows its log until the stream ends, which the kubelet does when the container exits.
    It never outlives `stop()` in a way that matters: `stop()` waits a bounded time, then
    shuts the stream down and mutes the thread, so nothing is printed after it returns.
    A pod that cannot start is reported in `stuck` for the Job's watcher to give up on.
    """

    apis: KubernetesApis
    namespace: str
    job_name: str
    console: Console
    poll_seconds: float
    lines: list[str] = field(default_factory=list)
    pod_name: str | None = None
    stuck: str = ""
    ended: bool = False
    cut: bool = False
    error: str = ""
    _job_done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _muted: bool = False
    _response: Any = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start following in a daemon thread (it never keeps the process alive)."""
        self._thread = threading.Thread(
            target=self._run, name=f"log of job {self.job_name}", daemon=True
        )
        self._thread.start()

    def stop(self, drain_seconds: float) -> list[str]:
        """Let the stream end by itself for up to `drain_seconds`, then cut it; the lines shown."""
        self._job_done.set()
        if self._thread is not None:
            self._thread.join(drain_seconds)
            with self._lock:
                self._muted = True
                response = self._response
            if self._thread.is_alive():
                self.cut = True
                _interrupt(response)
                self._thread.join(1.0)
        with self._lock:
            self._muted = True
            return list(self.lines)

    def _run(self) -> None:
        try:
            pod = self._wait_until_started()
            if pod is not None:
                self._follow(pod.metadata.name)
        except Exception as error:  # a background thread must not die unheard
            self.error = f"{type(error).__name__}: {error}"

    def _say(self, message: str, keep: bool = False) -> bool:
        with self._lock:
            if self._muted:
                return False
            if keep:
                self.lines.append(message)
                message = message.removesuffix("\n")
            self.console.info(message)
            return True

    def _wait_until_started(self) -> Any:
        """The Job's pod once its container runs or ran; None if the Job ends first."""
        reported = ""
        while True:
            job_done = self._job_done.is_set()
            pods = call_api(
                f"list pods of job {self.job_name}",
                lambda: self.apis.core.list_namespaced_pod(
                    self.namespace, label_selector=f"job-name={self.job_name}"
                ),
            ).items
            if pods:
                pod = pods[-1]
                self.pod_name = pod.metadata.name
                state = migration_container_state(pod)
                if state is not None and (state.running or state.terminated):
                    return pod
                reason, note = pod_waiting_note(pod)
                if note and note != reported:
                    reported = note
                    self._say(f"pod {pod.metadata.name}: {note}")
                if reason in STUCK_REASONS:
                    self.stuck = f"pod {pod.metadata.name}: {note}"
                    return None
            if job_done:
                return None
            self._job_done.wait(self.poll_seconds)

    def _follow(self, pod_name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = call_api(
                f"follow the log of pod {pod_name}",
                lambda: self.apis.core.read_namespaced_pod_log(
                    pod_name,
                    self.namespace,
                    container=MIGRATION_CONTAINER,
                    follow=True,
                    _preload_content=False,
                ),
            )
        except ApiException as error:  # 400: the container went back to waiting (a race)
            self.error = f"{error.status} {error.reason}"
            return
        with self._lock:
            self._response = response
            muted = self._muted
        try:
            if not muted:
                self._pump(response)
        finally:
            response.close()
            response.release_conn()

    def _pump(self, response: Any) -> None:
        """Print each complete line as its bytes arrive (a line may span chunks)."""
        # amt=None: each chunk of the chunked response as soon as it arrives, as the
        # client's own watch reads its streams.
        for line in log_lines(response.stream(amt=None)):
            if not self._say(line, keep=True):
                return
        self.ended = True


def job_condition(job: Any) -> tuple[str, str, str] | None:
    """("Complete" | "Failed", reason, message) once the Job has finished, else None.

    Only these two conditions are terminal: `SuccessCriteriaMet` and `FailureTarget`
    (Kubernetes >= 1.31) come first, while the pods may still be terminating.
    """
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition.type, condition.reason or "", condition.message or ""
    return None


@dataclass
class KubernetesRunner:
    """Run the migration as a Job in `namespace`, optionally configured like `deployment`."""

    apis: KubernetesApis
    namespace: str
    deployment: str | None = None
    container: str | None = None
    poll_seconds: float = 2.0
    deadline_grace_seconds: float = DEADLINE_GRACE_SECONDS
    log_drain_seconds: float = LOG_DRAIN_SECONDS
    watch_slice_seconds: float = WATCH_SLICE_SECONDS
    name: str = "kubernetes"

    @classmethod
    def from_kubeconfig(
        cls,
        *,
        namespace: str,
        deployment: str | None,
        container: str | None,
        context: str | None,
    ) -> KubernetesRunner:
        """A runner talking to the cluster of the current (or given) kubeconfig context."""
        return cls(
            apis=KubernetesApis.from_kubeconfig(context),
            namespace=namespace,
            deployment=deployment,
            container=container,
        )

    def env_secret_manifest(self, job_name: str, job: MigrationJob) -> Any:
        """The Secret holding the step's variables for the migration (None when there are none)."""
        from kubernetes import client

        if not job.env:
            return None
        return client.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=client.V1ObjectMeta(name=job_name, namespace=self.namespace, labels=LABELS),
            type="Opaque",
            string_data=dict(job.env),
        )

    def job_manifest(self, job_name: str, job: MigrationJob) -> Any:
        """The Job: the new image, the migration command, the app's env and secrets.

        The step's own variables are read from the Secret named `job_name`
        (`env_secret_manifest`), never written into the Job.
        """
        from kubernetes import client

        env = [
            client.V1EnvVar(
                name=name,
                value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name=job_name, key=name)
                ),
            )
            for name in job.env
        ]
        env_from: list[Any] = []
        pod_extras: dict[str, Any] = {}
        if self.deployment:
            source = call_api(
                f"read deployment {self.namespace}/{self.deployment}",
                lambda: self.apis.apps.read_namespaced_deployment(self.deployment, self.namespace),
            )
            pod_spec = source.spec.template.spec
            copied = find_container(pod_spec, self.container, f"deployment {self.deployment}")
            # The job's own variables win over the copied ones of the same name.
            env = [e for e in copied.env or [] if e.name not in job.env] + env
            env_from = list(copied.env_from or [])
            pod_extras = {
                "service_account_name": pod_spec.service_account_name,
                "image_pull_secrets": pod_spec.image_pull_secrets,
                "security_context": pod_spec.security_context,
                # The migration reaches the database the way the app does, from the nodes
                # the app runs on (seen on a real cluster: an app on the host network, and
                # its Job on the pod network, refused by the database on 127.0.0.1).
                "host_network": pod_spec.host_network,
                "dns_policy": pod_spec.dns_policy,
                "dns_config": pod_spec.dns_config,
                "node_selector": pod_spec.node_selector,
                "tolerations": pod_spec.tolerations,
                "affinity": pod_spec.affinity,
            }
        container = client.V1Container(
            name=MIGRATION_CONTAINER,
            image=job.image,
            # `args` replaces the image's CMD and keeps its ENTRYPOINT, as `docker run IMAGE
            # CMD` and ECS's command override do.
            args=job.command,
            env=env or None,
            env_from=env_from or None,
        )
        return client.V1Job(
            api_version="batch/v1",
            kind="Job",
            metadata=client.V1ObjectMeta(name=job_name, namespace=self.namespace, labels=LABELS),
            spec=client.V1JobSpec(
                backoff_limit=0,
                active_deadline_seconds=math.ceil(job.timeout_seconds),
                ttl_seconds_after_finished=JOB_TTL_SECONDS,
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=LABELS),
                    spec=client.V1PodSpec(
                        restart_policy="Never", containers=[container], **pod_extras
                    ),
                ),
            ),
        )

    def run(self, job: MigrationJob, console: Console) -> RunOutcome:
        """Create the Job, stream its pod's log while watching it to its end, delete it."""
        base = (self.deployment or "fastapi-ci")[:40].rstrip("-")
        job_name = f"{base}-migrate-{secrets.token_hex(3)}"
        manifest = self.job_manifest(job_name, job)
        secret = self.env_secret_manifest(job_name, job)
        if secret is not None:
            call_api(
                f"create secret {self.namespace}/{job_name}",
                lambda: self.apis.core.create_namespaced_secret(self.namespace, secret),
            )
        try:
            created = call_api(
                f"create job {self.namespace}/{job_name}",
                lambda: self.apis.batch.create_namespaced_job(self.namespace, manifest),
            )
        except BaseException:
            if secret is not None:
                self.delete_secret(job_name, console)
            raise
        if secret is not None:
            self.hand_secret_to_job(job_name, created, console)
        console.info(f"created job {self.namespace}/{job_name} from {job.image}")
        follower = PodLogFollower(
            apis=self.apis,
            namespace=self.namespace,
            job_name=job_name,
            console=console,
            poll_seconds=self.poll_seconds,
        )
        follower.start()
        try:
            deadline = time.monotonic() + job.timeout_seconds + self.deadline_grace_seconds
            condition = self.wait_for_job(job_name, deadline, give_up=lambda: bool(follower.stuck))
            # Ended, the Job's container has exited: its stream ends by itself. Timed out or
            # stuck, it may never end: cut it at once.
            shown = follower.stop(self.log_drain_seconds if condition is not None else 0.0)
            if follower.error and not follower.cut:
                console.info(f"(the log stream of job {job_name} broke: {follower.error})")
            logs, exit_code, pod_state = self.pod_logs(job_name, shown, console)
        finally:
            follower.stop(0.0)
            self.delete_job(job_name, console)
            if secret is not None:
                self.delete_secret(job_name, console)
        where = f"job {self.namespace}/{job_name}"
        if condition is None:
            if follower.stuck:
                failure = f"the migration pod cannot start: {follower.stuck}"
                reason = pod_state.partition(":")[0]
                details = {"job_condition": "PodCannotStart", "job_reason": reason}
                return RunOutcome(
                    exit_code=None, logs=logs, where=where, failure=failure, details=details
                )
            failure = f"timed out after {job.timeout_seconds:.0f}s" + (
                f" (pod: {pod_state})" if pod_state else ""
            )
            return RunOutcome(exit_code=None, logs=logs, where=where, failure=failure)
        kind, reason, message = condition
        failure = "" if kind == "Complete" else f"job failed: {reason}: {message}".rstrip(": ")
        if kind == "Complete" and exit_code is None:
            exit_code = 0  # Complete means the pod succeeded, even if it is already gone
        return RunOutcome(
            exit_code=exit_code,
            logs=logs,
            where=where,
            failure=failure,
            details={"job_condition": kind, "job_reason": reason},
        )

    def wait_for_job(
        self,
        job_name: str,
        deadline: float,
        give_up: Callable[[], bool] = lambda: False,
    ) -> tuple[str, str, str] | None:
        """Watch the Job until it is Complete or Failed; None when `deadline` passes first.

        Also None, early, once `give_up()` says so: it is asked between watch slices (a
        watch sees only the Job, not why its pod does not start).
        """
        import urllib3.exceptions
        from kubernetes.client.exceptions import ApiException

        selector = f"metadata.name={job_name}"
        while (remaining := deadline - time.monotonic()) > 0 and not give_up():
            watcher = self.apis.watch()
            # A watch ends by itself at timeout_seconds, or when the API server drops it
            # (a reset connection, 410 Gone for an expired resourceVersion): that is not the
            # Job failing, so look once more and watch again while time remains. A lasting
            # error (403) surfaces from the status read below.
            try:
                for event in watcher.stream(
                    self.apis.batch.list_namespaced_job,
                    self.namespace,
                    field_selector=selector,
                    timeout_seconds=max(1, math.ceil(min(remaining, self.watch_slice_seconds))),
                ):
                    if event["type"] == "DELETED":
                        watcher.stop()
                        return "Failed", "Deleted", "the job was deleted before it finished"
                    if event["type"] == "ERROR":
                        break
                    condition = job_condition(event["object"])
                    if condition is not None:
                        watcher.stop()
                        return condition
            except (ApiException, urllib3.exceptions.HTTPError, OSError):
                watcher.stop()
            current = call_api(
                f"read job {self.namespace}/{job_name}",
                lambda: self.apis.batch.read_namespaced_job_status(job_name, self.namespace),
            )
            condition = job_condition(current)
            if condition is not None:
                return condition
            time.sleep(min(self.poll_seconds, max(0.0, deadline - time.monotonic())))
        return None

    def pod_logs(
        self, job_name: str, shown: list[str], console: Console
    ) -> tuple[str, int | None, str]:
        """The whole log, its exit code, and why the pod is stuck if it never ran.

        `shown` are the lines the stream already printed; the ones it missed are printed now.
        """
        from kubernetes.client.exceptions import ApiException

        streamed = "".join(shown)
        pods = call_api(
            f"list pods of job {job_name}",
            lambda: self.apis.core.list_namespaced_pod(
                self.namespace, label_selector=f"job-name={job_name}"
            ),
        ).items
        if not pods:
            return streamed, None, "no pod was created"
        pod = pods[-1]
        state = migration_container_state(pod)
        exit_code = state.terminated.exit_code if state and state.terminated else None
        _, state_note = pod_waiting_note(pod)
        try:
            whole = str(
                call_api(
                    f"read log of pod {pod.metadata.name}",
                    lambda: self.apis.core.read_namespaced_pod_log(
                        pod.metadata.name, self.namespace, container=MIGRATION_CONTAINER
                    ),
                )
            )
        except ApiException as error:  # a container that never started has no log
            note = f"(no log from pod {pod.metadata.name}: {error.reason})\n"
            return streamed or note, exit_code, state_note
        missed = whole.splitlines(keepends=True)[len(shown) :]
        for line in missed:
            console.info(line.removesuffix("\n"))
        return (whole if missed else streamed or whole), exit_code, state_note

    def hand_secret_to_job(self, job_name: str, created: Any, console: Console) -> None:
        """Make the Job the Secret's owner, so the cluster deletes it with the Job (its TTL)
        even when this process dies before its own cleanup."""
        uid = getattr(getattr(created, "metadata", None), "uid", None)
        if not uid:
            return
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": job_name,
            "uid": uid,
            "blockOwnerDeletion": False,
        }
        try:
            call_api(
                f"patch secret {self.namespace}/{job_name}",
                lambda: self.apis.core.patch_namespaced_secret(
                    job_name, self.namespace, {"metadata": {"ownerReferences": [owner]}}
                ),
            )
        except Exception as error:  # the runner still deletes it when the Job ends
            console.warning(f"could not make job {job_name} the owner of its secret: {error}")

    def delete_secret(self, job_name: str, console: Console) -> None:
        """Delete the Secret of the step's variables (its owner Job's deletion would, later)."""
        try:
            call_api(
                f"delete secret {self.namespace}/{job_name}",
                lambda: self.apis.core.delete_namespaced_secret(job_name, self.namespace),
            )
        except Exception as error:  # cleanup must not hide the migration's own result
            console.warning(f"could not delete secret {self.namespace}/{job_name}: {error}")

    def delete_job(self, job_name: str, console: Console) -> None:
        """Delete the Job and its pod now (the TTL would, later)."""
        try:
            call_api(
                f"delete job {self.namespace}/{job_name}",
                lambda: self.apis.batch.delete_namespaced_job(
                    job_name, self.namespace, propagation_policy="Background"
                ),
            )
        except Exception as error:  # cleanup must not hide the migration's own result
            console.warning(f"could not delete job {self.namespace}/{job_name}: {error}")
