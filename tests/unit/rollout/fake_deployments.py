"""A fake apps/v1 API for Deployments: the official client's models and a scripted controller.

No API server can run here. This stands in for one behind the SAME calls the backend makes
on a real cluster (`AppsV1Api.read_namespaced_deployment`, `patch_namespaced_deployment`,
`list_namespaced_deployment` through `watch.Watch().stream`, `list_namespaced_replica_set`,
`CoreV1Api.list_namespaced_pod`). Like the Deployment controller it bumps
`metadata.generation` on a template change, creates a ReplicaSet with the next
`deployment.kubernetes.io/revision` and a `pod-template-hash` label (or, for a template equal
to an old ReplicaSet's, re-uses that one with a new revision, as `rollout undo` leads to),
and then reports status as scripted: `observedGeneration`, `replicas`, `updatedReplicas`,
`availableReplicas` and the `Progressing` condition with its reason and `lastUpdateTime`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

NOW = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)
UID = "5b1c-deploy-uid"
CRASHED_AT = NOW + timedelta(seconds=2)
Step = Callable[["FakeDeploymentCluster"], None]


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
class FakeDeploymentCluster:
    """One Deployment "orders" (1 replica) with its ReplicaSets and pods.

    `plan` holds the controller's next status changes; each watch event applies one.
    After a patch, `plans` (if any are left) supplies the next plan.
    """

    image: str = "ghcr.io/acme/orders:v1"
    plans: list[list[Step]] = field(default_factory=list)
    plan: list[Step] = field(default_factory=list)
    deployment: client.V1Deployment = field(init=False)
    replica_sets: list[client.V1ReplicaSet] = field(default_factory=list)
    pods: list[client.V1Pod] = field(default_factory=list)
    patches: list[Any] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        first = template(self.image)
        self.deployment = client.V1Deployment(
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
        self._add_replica_set(first, revision=1)
        # Someone else's ReplicaSet with the same labels: not ours (owner reference).
        stranger = self._add_replica_set(template("ghcr.io/acme/other:v9"), revision=7)
        stranger.metadata.owner_references[0].uid = "another-uid"

    def _add_replica_set(
        self, spec: client.V1PodTemplateSpec, revision: int
    ) -> client.V1ReplicaSet:
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

    # AppsV1Api

    def read_namespaced_deployment(self, name: str, namespace: str) -> client.V1Deployment:
        self.calls.append("read")
        if (name, namespace) != ("orders", "shop"):
            raise ApiException(status=404, reason="Not Found")
        return self.deployment

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
            self._add_replica_set(self.deployment.spec.template, revision)
        self.deployment.metadata.annotations["deployment.kubernetes.io/revision"] = str(revision)
        self.plan = self.plans.pop(0) if self.plans else []

    # CoreV1Api

    def list_namespaced_pod(self, namespace: str, label_selector: str = "") -> client.V1PodList:
        wanted = dict(item.split("=", 1) for item in label_selector.split(","))
        return client.V1PodList(
            items=[
                pod
                for pod in self.pods
                if all((pod.metadata.labels or {}).get(k) == v for k, v in wanted.items())
            ]
        )

    # watch.Watch

    def watch(self) -> FakeWatch:
        return FakeWatch(self)


@dataclass
class FakeWatch:
    """`watch.Watch`: yields ADDED, then one MODIFIED per step of the controller's plan."""

    cluster: FakeDeploymentCluster
    stopped: bool = False

    def stream(self, func: Any, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        assert func == self.cluster.list_namespaced_deployment, "the backend must watch Deployments"
        assert kwargs["field_selector"] == "metadata.name=orders"
        assert kwargs["timeout_seconds"] >= 1
        self.cluster.calls.append("watch")
        yield {"type": "ADDED", "object": self.cluster.deployment}
        while self.cluster.plan and not self.stopped:
            self.cluster.plan.pop(0)(self.cluster)
            yield {"type": "MODIFIED", "object": self.cluster.deployment}

    def stop(self) -> None:
        self.stopped = True


# --- the controller's status changes, as steps of a plan -------------------------------------


def observed(cluster: FakeDeploymentCluster) -> None:
    """The controller saw the new generation and scaled up the new ReplicaSet (surge 1)."""
    status = cluster.deployment.status
    status.observed_generation = cluster.deployment.metadata.generation
    status.replicas, status.updated_replicas, status.available_replicas = 2, 1, 1
    status.conditions = [progressing("ReplicaSetUpdated", NOW)]


def new_pod_available(cluster: FakeDeploymentCluster) -> None:
    """The new pod is available; the old one is still terminating."""
    status = cluster.deployment.status
    status.replicas, status.updated_replicas, status.available_replicas = 2, 1, 2


def old_replicas_gone(cluster: FakeDeploymentCluster) -> None:
    status = cluster.deployment.status
    status.replicas, status.updated_replicas, status.available_replicas = 1, 1, 1
    status.conditions = [progressing("NewReplicaSetAvailable", NOW + timedelta(seconds=20))]


def new_pod_unavailable(cluster: FakeDeploymentCluster) -> None:
    """The new pod exists but is not available yet (readiness probe failing, starting)."""
    status = cluster.deployment.status
    status.observed_generation = cluster.deployment.metadata.generation
    status.replicas, status.updated_replicas, status.available_replicas = 2, 1, 1
    status.conditions = [progressing("ReplicaSetUpdated", NOW)]


def deadline_exceeded(at: datetime) -> Step:
    def step(cluster: FakeDeploymentCluster) -> None:
        cluster.deployment.status.conditions = [
            progressing("ProgressDeadlineExceeded", at, status="False")
        ]

    return step


def crash_looping(cluster: FakeDeploymentCluster) -> None:
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
