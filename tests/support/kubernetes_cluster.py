"""The example service on the real Kubernetes cluster `.ci/kubernetes.sh` starts.

Pods that must be reached run on the host network and listen on 127.0.0.1:PORT (the node
itself is 127.0.0.1), so no test traffic leaves loopback: the pods' own bridge addresses
are never used. A Deployment rolls like the Swarm service does: maxSurge 1, the new pod
binds the same port beside the old one (gunicorn's SO_REUSEPORT), the old one closes its
listener on SIGTERM.

Shared by the rollout, migrate-once and deploy-workflow tests.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fastapi_ci.clients.kubernetes import KubernetesApis
from tests.support.components import component_missing, free_port

DEFAULT_KUBECONFIG = "/var/lib/fastapi-ci/kubeconfig"
# Short enough for CI, long enough for gunicorn to drain: the grace period must exceed it.
GRACEFUL_SECONDS = 3
# An HTTP probe of a host-network pod goes to 127.0.0.1:PORT, where the OLD pod answers
# too: it would call a new pod ready before it listens. This probe asks the kernel instead:
# is the port's listening socket held by one of this container's own processes (its PID
# namespace shows only them; with --reuse-port the gunicorn worker, not PID 1, holds it)?
OWN_LISTENER_PROBE = """
import os, sys
port = int(os.environ["PORT"])
own = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        own.update(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
with open("/proc/net/tcp") as table:
    rows = [line.split() for line in table.readlines()[1:]]
listening = {
    f"socket:[{r[9]}]" for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port
}
sys.exit(0 if own & listening else 1)
"""


@dataclass(frozen=True)
class Cluster:
    """The cluster, reached with the admin kubeconfig `.ci/kubernetes.sh` writes."""

    kubeconfig: str
    apis: KubernetesApis


def connect(kubeconfig: str) -> Cluster:
    """The cluster's API clients; the test is skipped (failed under CI) unless a node is Ready."""
    from kubernetes import client, config, watch

    if not Path(kubeconfig).exists():
        component_missing("Kubernetes", f"no kubeconfig at {kubeconfig}")
    api_client = config.new_client_from_config(config_file=kubeconfig)
    apis = KubernetesApis(
        batch=client.BatchV1Api(api_client),
        core=client.CoreV1Api(api_client),
        apps=client.AppsV1Api(api_client),
        watch=watch.Watch,
    )
    try:
        nodes = apis.core.list_node(_request_timeout=10).items
    except Exception as error:  # any failure to talk to it means: not there
        component_missing("Kubernetes", f"the API server does not answer: {error}")
    ready = [
        node.metadata.name
        for node in nodes
        for condition in node.status.conditions or []
        if condition.type == "Ready" and condition.status == "True"
    ]
    if not ready:
        component_missing("Kubernetes", "no node is Ready")
    return Cluster(kubeconfig=kubeconfig, apis=apis)


def kubeconfig_path() -> str:
    """Where `.ci/services.sh` says the admin kubeconfig is."""
    return os.environ.get("FASTAPI_CI_KUBECONFIG", DEFAULT_KUBECONFIG)


@contextlib.contextmanager
def namespace(cluster: Cluster, *, max_pods: int | None = None) -> Iterator[str]:
    """A namespace of the test's own (optionally with a pod quota), deleted afterwards."""
    name = f"fastapi-ci-test-{uuid.uuid4().hex[:8]}"
    cluster.apis.core.create_namespace({"metadata": {"name": name}})
    if max_pods is not None:
        cluster.apis.core.create_namespaced_resource_quota(
            name, {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": str(max_pods)}}}
        )
    try:
        yield name
    finally:
        cluster.apis.core.delete_namespace(name, grace_period_seconds=0)


@dataclass(frozen=True)
class Deployment:
    """A Deployment of the example image on the host network, at 127.0.0.1:port."""

    name: str
    namespace: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def action_args(self) -> list[str]:
        return ["--backend", "kubernetes", "--namespace", self.namespace, "--service", self.name]


def deployment_manifest(
    name: str, image: str, port: int, database_url: str, progress_deadline_seconds: int
) -> dict[str, Any]:
    """One replica of the example service; no containerPort, so two pods may share the port."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "progressDeadlineSeconds": progress_deadline_seconds,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "terminationGracePeriodSeconds": GRACEFUL_SECONDS + 2,
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "env": [
                                {"name": "HOST", "value": "127.0.0.1"},
                                {"name": "PORT", "value": str(port)},
                                {"name": "DATABASE_URL", "value": database_url},
                                {"name": "WEB_CONCURRENCY", "value": "1"},
                                {
                                    "name": "GRACEFUL_TIMEOUT_SECONDS",
                                    "value": str(GRACEFUL_SECONDS),
                                },
                            ],
                            "readinessProbe": {
                                "exec": {"command": ["python", "-c", OWN_LISTENER_PROBE]},
                                "periodSeconds": 1,
                                "timeoutSeconds": 5,
                            },
                        }
                    ],
                },
            },
        },
    }


def create_deployment(
    cluster: Cluster,
    namespace: str,
    image: str,
    database_url: str,
    *,
    progress_deadline_seconds: int = 120,
) -> Deployment:
    """Create the Deployment at `image` and wait until it is available and answers ready."""
    deployment = Deployment(
        name=f"example-{uuid.uuid4().hex[:8]}", namespace=namespace, port=free_port()
    )
    manifest = deployment_manifest(
        deployment.name, image, deployment.port, database_url, progress_deadline_seconds
    )
    cluster.apis.apps.create_namespaced_deployment(namespace, manifest)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = cluster.apis.apps.read_namespaced_deployment(deployment.name, namespace).status
        if (status.available_replicas or 0) >= 1:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(deployment.url + "/health/ready", timeout=2).status_code == 200:
                    return deployment
        time.sleep(0.5)
    raise AssertionError(f"{namespace}/{deployment.name} never became ready on {deployment.url}")


def template_image(cluster: Cluster, deployment: Deployment) -> str:
    """The image the Deployment's pod template asks for now."""
    current = cluster.apis.apps.read_namespaced_deployment(deployment.name, deployment.namespace)
    return str(current.spec.template.spec.containers[0].image)


def running_images(cluster: Cluster, deployment: Deployment) -> list[str]:
    """The images of the Deployment's pods that are running and not being deleted."""
    pods = cluster.apis.core.list_namespaced_pod(
        deployment.namespace, label_selector=f"app={deployment.name}"
    ).items
    return sorted(
        str(pod.spec.containers[0].image)
        for pod in pods
        if pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None
    )
