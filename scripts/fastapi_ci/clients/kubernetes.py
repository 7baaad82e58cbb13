"""Kubernetes: the client set-up, retries and pod facts every action shares.

`KubernetesApis` bundles the official client's API objects (real ones, or a test's fake
cluster behind the same calls); `call_api` retries throttling, 5xx and dropped connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi_ci.errors import CheckFailed, InputError
from fastapi_ci.retry import RetryPolicy, retry_call

T = TypeVar("T")

TRANSIENT_STATUSES = {429, 500, 502, 503, 504}
API_RETRY = RetryPolicy(attempts=5, initial_delay=1.0, deadline_seconds=120)
# Pod states that do not get better by waiting: the container cannot start or keeps dying.
STUCK_REASONS = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}
# A watch is re-opened at least this often, so pod state (not part of the Deployment's
# status) is looked at even when the Deployment itself does not change.
WATCH_SLICE_SECONDS = 5


@dataclass
class KubernetesApis:
    """The client objects every call goes through (real ones, or a test's fake cluster)."""

    batch: Any
    core: Any
    apps: Any
    watch: Callable[[], Any]

    @classmethod
    def from_kubeconfig(
        cls, context: str | None = None, kubeconfig: str | None = None
    ) -> KubernetesApis:
        """In-cluster config when running in a pod, else the kubeconfig (and `context`).

        `kubeconfig` is the action's KUBECONFIG (a path, or a list joined by ':'); the
        client's own default reads the process environment once, when it is first imported.
        """
        from kubernetes import client, watch
        from kubernetes import config as kube_config

        # The client's config loaders carry no annotations.
        config: Any = kube_config
        try:
            if context is None:
                try:
                    config.load_incluster_config()
                except config.ConfigException:
                    config.load_kube_config(config_file=kubeconfig)
            else:
                config.load_kube_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as error:
            raise CheckFailed(
                f"no Kubernetes credentials: {error}",
                fix="run inside the cluster, or set KUBECONFIG (e.g. with azure/k8s-set-context "
                "or aws eks update-kubeconfig) before this step",
                why="the job talks to the cluster's API with its own credentials, nothing else",
                docs="rollout#permissions",
            ) from None
        return cls(
            batch=client.BatchV1Api(),
            core=client.CoreV1Api(),
            apps=client.AppsV1Api(),
            watch=watch.Watch,
        )


def is_transient(error: BaseException) -> bool:
    """API errors worth retrying: throttling, 5xx, and dropped connections."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(error, ApiException):
        return error.status in TRANSIENT_STATUSES
    return isinstance(error, HTTPError | ConnectionError | TimeoutError)


def call_api(what: str, operation: Callable[[], T]) -> T:
    """One API call, retried with backoff on transient failures."""
    return retry_call(operation, what=what, policy=API_RETRY, is_transient=is_transient)


def find_container(pod_spec: Any, name: str | None, where: str) -> Any:
    """The named container of a pod spec, else the first."""
    containers = pod_spec.containers or []
    for container in containers:
        if name is None or container.name == name:
            return container
    found = ", ".join(c.name for c in containers)
    raise InputError(
        "container",
        f"{where} has no container {name!r} ({found})",
        fix="name one of the containers listed, or leave container empty for the first",
        docs="rollout#rollout",
    )
