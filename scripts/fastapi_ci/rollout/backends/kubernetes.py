"""rollout on Kubernetes.

`KubernetesBackend` rolls a Deployment: it patches the container's image, decides
completion exactly as `kubectl rollout status` does (observedGeneration caught up, all
replicas updated, old replicas gone, updated replicas available, `ProgressDeadlineExceeded`
= failure), watching the Deployment rather than sleeping, and rolls back to the previous
ReplicaSet's template as `kubectl rollout undo` does. Two differences from kubectl, both
from incidents: a `ProgressDeadlineExceeded` condition last updated before this rollout
began is stale (left by an earlier rollout) and ignored, and a pod of the new ReplicaSet in
CrashLoopBackOff or unable to pull its image fails the rollout at once instead of after
the progress deadline (10 minutes by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi_ci.clients.kubernetes import (
    STUCK_REASONS,
    KubernetesApis,
    call_api,
    find_container,
    is_transient,
)
from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.rollout.backend import Observation, RolloutStart, epoch

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# A container restarted this many times after failing exits is crash looping, whatever
# its state reads at the moment.
CRASH_RESTARTS = 2
# While a rollout progresses its new pods are looked at this often: a crash loop changes
# no Deployment field, and on the real cluster a 5 s slice made its detection take up to
# 5.7 s after the crash (a read of the Deployment, its ReplicaSets and pods per look).
POD_CHECK_SECONDS = 1
# How long past its own timeout a silent watch is given before the client drops it.
WATCH_SILENCE_SECONDS = 5
# A pod's deletionTimestamp is when its grace period ends; clocks of the runner and the API
# server differ by this much at most before a draining pod is taken for a stuck one.
CLOCK_SLACK_SECONDS = 5


def rollout_status(deployment: Any, since: float) -> tuple[str, str]:
    """("progressing" | "complete" | "failed", message), as `kubectl rollout status` decides.

    The same checks in the same order as kubectl's DeploymentStatusViewer, except that a
    ProgressDeadlineExceeded condition updated before `since` (wall clock) is not trusted.
    """
    name = deployment.metadata.name
    spec, status = deployment.spec, deployment.status
    if (deployment.metadata.generation or 0) > (status.observed_generation or 0):
        return "progressing", "waiting for the deployment spec update to be observed"
    for condition in status.conditions or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            updated = epoch(condition.last_update_time) or 0.0
            if updated >= since:
                return "failed", f"deployment {name} exceeded its progress deadline"
    replicas = spec.replicas if spec.replicas is not None else 1
    updated_replicas = status.updated_replicas or 0
    if updated_replicas < replicas:
        return "progressing", (
            f"{updated_replicas} out of {replicas} new replicas have been updated"
        )
    if (status.replicas or 0) > updated_replicas:
        return "progressing", (
            f"{(status.replicas or 0) - updated_replicas} old replicas are pending termination"
        )
    if (status.available_replicas or 0) < updated_replicas:
        return "progressing", (
            f"{status.available_replicas or 0} of {updated_replicas} updated replicas are available"
        )
    return "complete", f"deployment {name} successfully rolled out"


def _template_key(template: Any) -> str:
    """A pod template as the API serializes it, without the label its ReplicaSet adds."""
    from kubernetes.client import ApiClient

    # The client's serializer is untyped; it turns the model into the API's JSON shape.
    serialize: Callable[[Any], dict[str, Any]] = ApiClient().sanitize_for_serialization
    serialized = serialize(template)
    serialized.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return json.dumps(serialized, sort_keys=True)


def _label_selector(deployment: Any) -> str:
    """The Deployment's selector as a `label_selector` query (its pods and ReplicaSets)."""
    labels = deployment.spec.selector.match_labels or {}
    return ",".join(f"{key}={value}" for key, value in labels.items())


def _revision(replica_set: Any) -> int:
    annotations = replica_set.metadata.annotations or {}
    try:
        return int(annotations.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


@dataclass
class KubernetesBackend:
    """One Deployment in one namespace."""

    apis: KubernetesApis
    namespace: str
    deployment: str
    container: str | None = None
    since: float | None = None  # when this rollout began (wall clock); default: now
    wall: Callable[[], float] = time.time
    clock: Callable[[], float] = time.monotonic
    name: str = "kubernetes"

    def __post_init__(self) -> None:
        if self.since is None:
            self.since = self.wall()

    def describe(self) -> str:
        """The Deployment as named in messages."""
        return f"deployment {self.namespace}/{self.deployment}"

    def _read(self) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call_api(
                f"read of {self.describe()}",
                lambda: self.apis.apps.read_namespaced_deployment(self.deployment, self.namespace),
            )
        except ApiException as error:
            if error.status == 404:
                raise InputError(
                    "service",
                    f"no {self.describe()}",
                    why="a rollout updates a Deployment that exists; it never creates one",
                    fix="check service, namespace and kube-context, or apply the Deployment first",
                    docs="rollout#rollout",
                ) from None
            raise CheckFailed(f"cannot read {self.describe()}: {error.reason}") from None

    def _image_of(self, pod_spec: Any) -> str:
        return str(find_container(pod_spec, self.container, self.describe()).image)

    def current_image(self) -> str:
        """The image of the Deployment's pod template."""
        return self._image_of(self._read().spec.template.spec)

    def _replica_sets(self, deployment: Any) -> list[Any]:
        """The Deployment's own ReplicaSets (owner reference), newest revision first."""
        selector = _label_selector(deployment)
        listed = call_api(
            "list of replica sets",
            lambda: self.apis.apps.list_namespaced_replica_set(
                self.namespace, label_selector=selector
            ),
        )
        owned = [
            rs
            for rs in listed.items
            if any(ref.uid == deployment.metadata.uid for ref in rs.metadata.owner_references or [])
        ]
        return sorted(owned, key=_revision, reverse=True)

    def _previous_replica_set(self, deployment: Any) -> Any | None:
        """The newest of the Deployment's ReplicaSets whose template is not its current one.

        Not "the newest revision below the Deployment's": right after a patch the controller
        has not yet made the new ReplicaSet nor bumped the revision annotation (it does both
        asynchronously; seen on the real cluster, where wait-stable then found no previous
        revision and did not roll back)."""
        current = _template_key(deployment.spec.template)
        for replica_set in self._replica_sets(deployment):  # newest revision first
            if _template_key(replica_set.spec.template) != current:
                return replica_set
        return None

    def previous_image(self) -> str | None:
        """The image of the ReplicaSet a rollback returns to."""
        previous = self._previous_replica_set(self._read())
        return self._image_of(previous.spec.template.spec) if previous is not None else None

    def resolve(self, image: str) -> str:
        """The image as given: the pod template / task definition records it verbatim."""
        return image

    def set_image(self, image: str, env: dict[str, str]) -> RolloutStart:
        """Strategic-merge patch of the container's image (and env, merged by name)."""
        deployment = self._read()
        container = find_container(deployment.spec.template.spec, self.container, self.describe())
        patch: dict[str, Any] = {"name": container.name, "image": image}
        if env:
            patch["env"] = [{"name": key, "value": value} for key, value in env.items()]
        started = self.wall()
        self.since = started
        call_api(
            f"patch of {self.describe()}",
            lambda: self.apis.apps.patch_namespaced_deployment(
                self.deployment,
                self.namespace,
                {"spec": {"template": {"spec": {"containers": [patch]}}}},
            ),
        )
        return RolloutStart(str(container.image), image, started)

    def _stuck_pod(self, deployment: Any) -> tuple[str, float] | None:
        """A pod of the current template that cannot start or keeps crashing: (description,
        when it failed: the crashed container's finishedAt, else now)."""
        template_labels = deployment.spec.template.metadata.labels or {}
        new_rs = next(
            (
                rs
                for rs in self._replica_sets(deployment)
                if str(_revision(rs))
                == (deployment.metadata.annotations or {}).get(REVISION_ANNOTATION)
            ),
            None,
        )
        if new_rs is None:
            return None
        pod_hash = (new_rs.metadata.labels or {}).get("pod-template-hash")
        selector = ",".join(
            [f"{k}={v}" for k, v in template_labels.items()] + [f"pod-template-hash={pod_hash}"]
        )
        pods = call_api(
            "list of pods",
            lambda: self.apis.core.list_namespaced_pod(self.namespace, label_selector=selector),
        )
        for pod in pods.items:
            for status in (pod.status.container_statuses if pod.status else None) or []:
                waiting = status.state.waiting if status.state else None
                if waiting is not None and waiting.reason in STUCK_REASONS:
                    last = status.last_state.terminated if status.last_state else None
                    exit_note = f", last exit code {last.exit_code}" if last is not None else ""
                    crashed_at = epoch(last.finished_at) if last is not None else None
                    description = (
                        f"pod {pod.metadata.name}: {waiting.reason}{exit_note}"
                        f" ({waiting.message or 'no message'})"
                    )
                    return description, crashed_at or self.wall()
                last = status.last_state.terminated if status.last_state else None
                if (status.restart_count or 0) >= CRASH_RESTARTS and last and last.exit_code:
                    # Between back-offs the state reads running or terminated, not
                    # CrashLoopBackOff: restarts after failed exits say the same thing.
                    description = (
                        f"pod {pod.metadata.name}: crash loop, restarted {status.restart_count}"
                        f" times, last exit code {last.exit_code}"
                    )
                    return description, epoch(last.finished_at) or self.wall()
        return None

    def _judge(self, deployment: Any, expected_image: str) -> Observation:
        asked = self._image_of(deployment.spec.template.spec)
        if asked != expected_image:
            return Observation("failed", f"{self.describe()} now asks for {asked}")
        assert self.since is not None
        phase, message = rollout_status(deployment, self.since)
        if phase == "progressing":
            stuck = self._stuck_pod(deployment)
            if stuck is not None:
                description, failed_at = stuck
                return Observation("failed", description, signal_at=failed_at)
        if phase == "complete" and (draining := self._draining_pods(deployment)):
            # `kubectl rollout status` counts a terminating pod as gone, but until its grace
            # period ends it may still answer: a readiness check then would hear the old
            # version. One stuck past its grace period (a lost node) is not waited for.
            phase, message = "progressing", f"old pods still draining: {', '.join(draining)}"
        serving = (expected_image,) if phase == "complete" else ()
        return Observation(phase, message, serving=serving)  # type: ignore[arg-type]

    def _draining_pods(self, deployment: Any) -> list[str]:
        """The Deployment's pods being deleted whose grace period has not ended yet."""
        selector = _label_selector(deployment)
        pods = call_api(
            "list of pods",
            lambda: self.apis.core.list_namespaced_pod(self.namespace, label_selector=selector),
        )
        now = self.wall()
        return [
            pod.metadata.name
            for pod in pods.items
            if (ends := epoch(pod.metadata.deletion_timestamp)) is not None
            and ends + CLOCK_SLACK_SECONDS > now
        ]

    def observe(self, expected_image: str) -> Observation:
        """One read of the Deployment (and its new pods while it progresses)."""
        return self._judge(self._read(), expected_image)

    def wait(self, expected_image: str, deadline: float) -> Observation:
        """Watch the Deployment until the rollout settles or `deadline` (monotonic) passes."""
        seen = self.observe(expected_image)
        while seen.phase == "progressing" and (remaining := deadline - self.clock()) > 0:
            watcher = self.apis.watch()
            slice_seconds = max(1, int(min(remaining, POD_CHECK_SECONDS)))
            try:
                for event in watcher.stream(
                    self.apis.apps.list_namespaced_deployment,
                    self.namespace,
                    field_selector=f"metadata.name={self.deployment}",
                    timeout_seconds=slice_seconds,
                    # A watch the server does not end (a stalled connection) must not stop
                    # the pods being looked at: the client gives up on silence too.
                    _request_timeout=(10, slice_seconds + WATCH_SILENCE_SECONDS),
                ):
                    seen = self._judge(event["object"], expected_image)
                    if seen.phase != "progressing":
                        return seen
            except Exception as error:
                # 410 Gone: the watch's resourceVersion expired; a fresh watch is the cure.
                if not (is_transient(error) or getattr(error, "status", None) == 410):
                    raise
            finally:
                watcher.stop()
            seen = self.observe(expected_image)  # pods may have changed; the watch missed it
        return seen

    def rollback(self) -> str:
        """`kubectl rollout undo`: the previous ReplicaSet's template, minus its hash label."""
        deployment = self._read()
        previous = self._previous_replica_set(deployment)
        if previous is None:
            raise CheckFailed(
                f"{self.describe()} has no previous ReplicaSet to roll back to",
                why="a rollback returns to the version before this rollout, and the "
                "orchestrator kept none (a first deploy, or its history was pruned)",
                docs="wait-stable#wait-stable",
            )
        from kubernetes.client import ApiClient

        # The client's serializer is untyped; it turns the model into the API's JSON shape.
        serialize: Callable[[Any], dict[str, Any]] = ApiClient().sanitize_for_serialization
        template = serialize(previous.spec.template)
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        call_api(
            f"rollback of {self.describe()}",
            lambda: self.apis.apps.patch_namespaced_deployment(
                self.deployment,
                self.namespace,
                [{"op": "replace", "path": "/spec/template", "value": template}],
            ),
        )
        self.since = self.wall()
        return self._image_of(previous.spec.template.spec)
