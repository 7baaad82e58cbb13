"""The kubernetes runner: a one-shot Job from the new image, watched until Complete or Failed.

`kubectl wait --for=condition=complete` cannot also stop on `Failed` (it waits out its
timeout on a failed Job), so the Job is WATCHED here and the wait ends on whichever of the
two conditions comes first, bounded by the timeout. The Job is built to run once:
`backoffLimit: 0` (a failed migration is not retried blindly), `activeDeadlineSeconds`
(Kubernetes itself stops it at the timeout), `ttlSecondsAfterFinished` (the cluster cleans
up even if this process dies before its own cleanup).

Everything goes through the official client's `BatchV1Api`, `CoreV1Api`, `AppsV1Api` and
`watch.Watch`, injected as `KubernetesApis`, so tests drive the identical code path with a
fake cluster. The client set-up and retries are shared with the rollout
(`fastapi_ci.backends.kubernetes`).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi_ci.action_io import Console
from fastapi_ci.backends.kubernetes import KubernetesApis, call_api, find_container
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome

# Kept a day after it finishes for `kubectl logs`, unless this runner deletes it first.
JOB_TTL_SECONDS = 86400
MIGRATION_CONTAINER = "migrate"
# Waiting a little past the Job's own deadline lets the controller report DeadlineExceeded.
DEADLINE_GRACE_SECONDS = 30
LABELS = {"app.kubernetes.io/managed-by": "fastapi-ci", "fastapi-ci/action": "migrate-once"}


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

    def job_manifest(self, job_name: str, job: MigrationJob) -> Any:
        """The Job: the new image, the migration command, the app's env and secrets."""
        from kubernetes import client

        env = [client.V1EnvVar(name=k, value=v) for k, v in job.env.items()]
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
        """Create the Job, watch it to its end, fetch the pod's logs, delete the Job."""
        base = (self.deployment or "fastapi-ci")[:40].rstrip("-")
        job_name = f"{base}-migrate-{secrets.token_hex(3)}"
        manifest = self.job_manifest(job_name, job)
        call_api(
            f"create job {self.namespace}/{job_name}",
            lambda: self.apis.batch.create_namespaced_job(self.namespace, manifest),
        )
        console.info(f"created job {self.namespace}/{job_name} from {job.image}")
        try:
            deadline = time.monotonic() + job.timeout_seconds + self.deadline_grace_seconds
            condition = self.wait_for_job(job_name, deadline)
            logs, exit_code, pod_state = self.pod_logs(job_name)
        finally:
            self.delete_job(job_name, console)
        for line in logs.splitlines():
            console.info(line)
        where = f"job {self.namespace}/{job_name}"
        if condition is None:
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

    def wait_for_job(self, job_name: str, deadline: float) -> tuple[str, str, str] | None:
        """Watch the Job until it is Complete or Failed; None when `deadline` passes first."""
        import urllib3.exceptions
        from kubernetes.client.exceptions import ApiException

        selector = f"metadata.name={job_name}"
        while (remaining := deadline - time.monotonic()) > 0:
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
                    timeout_seconds=max(1, math.ceil(remaining)),
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

    def pod_logs(self, job_name: str) -> tuple[str, int | None, str]:
        """The migration pod's log, its exit code, and why it is stuck if it never ran."""
        from kubernetes.client.exceptions import ApiException

        pods = call_api(
            f"list pods of job {job_name}",
            lambda: self.apis.core.list_namespaced_pod(
                self.namespace, label_selector=f"job-name={job_name}"
            ),
        ).items
        if not pods:
            return "", None, "no pod was created"
        pod = pods[-1]
        exit_code: int | None = None
        state_note = ""
        for status in pod.status.container_statuses or []:
            if status.state.terminated is not None:
                exit_code = status.state.terminated.exit_code
            elif status.state.waiting is not None:
                waiting = status.state.waiting
                state_note = f"{waiting.reason}: {waiting.message or ''}".rstrip(": ")
        try:
            logs = call_api(
                f"read log of pod {pod.metadata.name}",
                lambda: self.apis.core.read_namespaced_pod_log(
                    pod.metadata.name, self.namespace, container=MIGRATION_CONTAINER
                ),
            )
        except ApiException as error:  # a container that never started has no log
            logs = f"(no log from pod {pod.metadata.name}: {error.reason})\n"
        return str(logs), exit_code, state_note

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
