"""The Kubernetes backend against a fake apps/v1 API: kubectl's completion rules and undo."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes import client

from fastapi_ci.rollout import WaitStableInputs, make_backend
from fastapi_ci.rollout.backends.kubernetes import KubernetesBackend, rollout_status
from fastapi_ci.rollout.stable import StableSettings, wait_stable
from tests.support.fake_kubernetes import (
    CRASHED_AT,
    HEALTHY_ROLLOUT,
    NOW,
    FakeCluster,
    crash_looping,
    deadline_exceeded,
    deployment_cluster,
    new_pod_unavailable,
    observed,
    old_replicas_gone,
)

V1 = "ghcr.io/acme/orders:v1"
V2 = "ghcr.io/acme/orders:v2"
ROLLOUT_BEGAN = NOW.timestamp()


def backend(cluster: FakeCluster) -> KubernetesBackend:
    apis = cluster.apis()
    return KubernetesBackend(apis, "shop", "orders", wall=lambda: ROLLOUT_BEGAN, clock=lambda: 0.0)


@pytest.mark.parametrize(
    ("steps", "phase", "message"),
    [
        ([], "progressing", "waiting for the deployment spec update to be observed"),
        ([observed], "progressing", "1 old replicas are pending termination"),
        ([new_pod_unavailable], "progressing", "1 old replicas are pending termination"),
        ([observed, old_replicas_gone], "complete", "deployment orders successfully rolled out"),
    ],
)
def test_completion_is_decided_as_kubectl_rollout_status(
    steps: list, phase: str, message: str
) -> None:
    cluster = deployment_cluster()
    backend(cluster).set_image(V2, {})
    for step in steps:
        step(cluster)
    assert rollout_status(cluster.deployment, ROLLOUT_BEGAN) == (phase, message)


def test_updated_replicas_not_yet_available_is_progressing() -> None:
    cluster = deployment_cluster()
    backend(cluster).set_image(V2, {})
    observed(cluster)
    old_replicas_gone(cluster)
    cluster.deployment.status.available_replicas = 0
    assert rollout_status(cluster.deployment, ROLLOUT_BEGAN) == (
        "progressing",
        "0 of 1 updated replicas are available",
    )


def test_a_stale_progress_deadline_from_an_earlier_rollout_is_ignored() -> None:
    cluster = deployment_cluster(plans=[[observed, old_replicas_gone]])
    made = backend(cluster)
    made.set_image(V2, {})
    # Left by a rollout an hour ago; kubectl would fail this new rollout on it.
    deadline_exceeded(NOW - timedelta(hours=1))(cluster)
    # Observed, but the new ReplicaSet not scaled up yet: no updated replica.
    cluster.deployment.status.observed_generation = cluster.deployment.metadata.generation
    cluster.deployment.status.updated_replicas = 0
    assert rollout_status(cluster.deployment, ROLLOUT_BEGAN)[0] == "progressing"
    assert made.wait(V2, deadline=60).phase == "complete"


def test_a_progress_deadline_reached_in_this_rollout_is_a_failure() -> None:
    cluster = deployment_cluster(
        plans=[[new_pod_unavailable, deadline_exceeded(NOW + timedelta(minutes=10))]]
    )
    made = backend(cluster)
    made.set_image(V2, {})
    seen = made.wait(V2, deadline=60)
    assert seen.phase == "failed"
    assert seen.message == "deployment orders exceeded its progress deadline"


def test_wait_watches_the_deployment_until_complete() -> None:
    cluster = deployment_cluster(plans=[list(HEALTHY_ROLLOUT)])
    made = backend(cluster)
    start = made.set_image(V2, {"LOG_LEVEL": "debug"})
    assert (start.previous_image, start.deployed_image) == (V1, V2)
    seen = made.wait(V2, deadline=60)
    assert seen.phase == "complete"
    assert seen.serving == (V2,)
    assert cluster.calls.count("watch") == 1  # one watch carried the whole rollout
    env = cluster.deployment.spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [("LOG_LEVEL", "debug")]


def test_a_crash_looping_new_pod_fails_the_rollout_without_waiting_for_the_deadline() -> None:
    cluster = deployment_cluster(plans=[[new_pod_unavailable, crash_looping]])
    made = backend(cluster)
    made.set_image(V2, {})
    seen = made.wait(V2, deadline=60)
    assert seen.phase == "failed"
    assert "CrashLoopBackOff, last exit code 2" in seen.message
    # The failure happened when the container crashed, not when the backend looked.
    assert seen.signal_at == CRASHED_AT.timestamp()


def test_previous_image_is_the_newest_older_replica_set_of_this_deployment() -> None:
    cluster = deployment_cluster()
    made = backend(cluster)
    made.set_image(V2, {})
    # Revision 7 belongs to another Deployment with the same labels: not a candidate.
    assert made.previous_image() == V1


def test_previous_image_is_known_before_the_controller_has_seen_the_patch() -> None:
    # On the real cluster the patch changes the template at once, while the new ReplicaSet and
    # the revision annotation come later from the controller. A fake, because the real
    # controller cannot be held back on demand: the state between the two, made by hand.
    cluster = deployment_cluster()
    made = backend(cluster)
    made.set_image(V2, {})
    cluster.replica_sets[:] = [
        rs for rs in cluster.replica_sets if rs.spec.template.spec.containers[0].image != V2
    ]
    cluster.deployment.metadata.annotations["deployment.kubernetes.io/revision"] = "1"
    assert made.previous_image() == V1
    assert made.rollback() == V1
    assert cluster.deployment.spec.template.spec.containers[0].image == V1


def test_rollback_restores_the_previous_replica_sets_template() -> None:
    cluster = deployment_cluster(plans=[[], list(HEALTHY_ROLLOUT)])
    made = backend(cluster)
    made.set_image(V2, {"DATABASE_URL": "bogus://x"})
    assert made.rollback() == V1
    patch = cluster.patches[-1]
    assert patch[0]["op"] == "replace"
    assert patch[0]["path"] == "/spec/template"
    container = cluster.deployment.spec.template.spec.containers[0]
    assert container.image == V1
    assert not container.env  # the whole template is back, not merged with v2's env
    assert made.wait(V1, deadline=60).phase == "complete"
    assert cluster.revision == 3  # undo re-uses revision 1's ReplicaSet as revision 3


def test_failed_rollout_is_rolled_back_and_v1_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = deployment_cluster(
        plans=[[new_pod_unavailable, crash_looping], list(HEALTHY_ROLLOUT)]
    )
    made = backend(cluster)
    made.set_image(V2, {})
    outcome = wait_stable(made, V2, StableSettings(timeout=60, readiness=None))
    assert not outcome.passed
    assert outcome.rolled_back
    assert outcome.serving == V1
    assert outcome.previous_image == V1
    assert "CrashLoopBackOff" in str(outcome.failure)


def test_a_missing_deployment_is_bad_input() -> None:
    cluster = deployment_cluster()
    apis = cluster.apis()
    missing = KubernetesBackend(apis, "shop", "nope")
    with pytest.raises(Exception, match="no deployment shop/nope"):
        missing.current_image()


def test_the_kubeconfig_is_the_one_in_the_actions_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client's default path is read from the PROCESS environment when it is first
    # imported; the action is given its environment, which must win (seen on the real
    # cluster: the in-process test's KUBECONFIG was never read).
    import kubernetes.config  # noqa: F401  # imported before KUBECONFIG is known, as in a test run

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config to fall back on
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ci\n"
        "clusters: [{name: ci, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: ci, user: {token: t0ken}}]\n"
        "contexts: [{name: ci, context: {cluster: ci, user: ci}}]\n"
    )
    inputs = WaitStableInputs(backend="kubernetes", service="orders")

    made = make_backend(inputs, {"KUBECONFIG": str(kubeconfig)}, None)

    assert isinstance(made, KubernetesBackend)
    assert made.apis.apps.api_client.configuration.host == "https://127.0.0.1:6443"


def test_a_new_pod_restarted_after_failing_exits_fails_the_rollout_between_back_offs() -> None:
    # Between back-offs the container reads running (or terminated), not CrashLoopBackOff.
    cluster = deployment_cluster(plans=[[new_pod_unavailable, crash_looping]])
    made = backend(cluster)
    made.set_image(V2, {})
    seen = made.wait(V2, deadline=60)
    assert seen.phase == "failed"
    (status,) = cluster.pods[-1].status.container_statuses
    status.state = client.V1ContainerState(running=client.V1ContainerStateRunning())

    between = made.observe(V2)

    assert between.phase == "failed"
    assert "crash loop, restarted 3 times, last exit code 2" in between.message
    assert between.signal_at == CRASHED_AT.timestamp()


def old_pod_deleted(cluster: FakeCluster, grace_ends_in: timedelta) -> client.V1Pod:
    """v1's pod, deleted by the scale-down, with its grace period ending GRACE_ENDS_IN from now
    (status.replicas no longer counts it, as on a real cluster)."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(
            name="orders-v1hash-a1b2c",
            labels={"app": "orders", "pod-template-hash": "v1hash"},
            deletion_timestamp=NOW + grace_ends_in,
        ),
        status=client.V1PodStatus(phase="Running"),
    )
    cluster.pods.append(pod)
    return pod


def test_a_rollout_is_not_complete_while_an_old_pod_drains_and_may_still_answer() -> None:
    # On the real cluster an old pod kept answering the readiness URL for seconds after the
    # rollout read complete, and wait-stable passed a v2 that was never ready (flaky test
    # test_v2_not_ready_is_rolled_back_and_v1_serves_again).
    cluster = deployment_cluster()
    made = backend(cluster)
    made.set_image(V2, {})
    observed(cluster)
    old_replicas_gone(cluster)
    draining = old_pod_deleted(cluster, grace_ends_in=timedelta(seconds=30))
    seen = made.observe(V2)
    assert (seen.phase, seen.message) == (
        "progressing",
        f"old pods still draining: {draining.metadata.name}",
    )
    assert seen.serving == ()
    cluster.pods.remove(draining)  # the kubelet confirmed it gone
    assert made.observe(V2).phase == "complete"


def test_a_pod_stuck_terminating_past_its_grace_period_is_not_waited_for() -> None:
    # A pod on a lost node stays Terminating for good: waiting would time out and roll back a
    # healthy version.
    cluster = deployment_cluster()
    made = backend(cluster)
    made.set_image(V2, {})
    observed(cluster)
    old_replicas_gone(cluster)
    old_pod_deleted(cluster, grace_ends_in=-timedelta(minutes=10))
    seen = made.observe(V2)
    assert seen.phase == "complete"
    assert seen.serving == (V2,)
