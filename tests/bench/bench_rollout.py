"""Benchmark of wait-stable on a real Swarm or Kubernetes with the example service.

Per run, on one service of the example image (host network; Swarm: start-first; Kubernetes:
a Deployment with maxSurge 1, maxUnavailable 0, on the cluster of .ci/kubernetes.sh):

1. a healthy rollout: the time from the rollout becoming complete (Swarm's update done AND
   the last old task stopped, by Swarm's own timestamps; Kubernetes: when wait-stable saw
   the Deployment complete) to wait-stable returning — the deep readiness check plus the
   final look at the service (target < 3 s);
2. a v2 that crashes at start (`DATABASE_URL=bogus://`): the time from the first failing
   signal (the failed task's timestamp in Swarm; the crashed container's finishedAt in
   Kubernetes) to the rollback begun (target < 3 s);
3. a v2 whose /health/ready answers 503: the time from the first 503 seen to the rollback
   begun (target < 3 s; wait-stable gives up after `readiness-failures`, 3 by default,
   consecutive not-ready answers, with backoff between them), and from the verdict to the
   rollback begun.

Prints the median of the runs. Needs what the integration tests need: the engine, the local
registry (FASTAPI_CI_REGISTRY, ci-user), PostgreSQL (FASTAPI_CI_DATABASE_URL) and, for
Kubernetes, the cluster (FASTAPI_CI_KUBECONFIG).

Usage: uv run python tests/bench/bench_rollout.py [--backend swarm|kubernetes] [--runs 3]
       [--base-image IMAGE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.components import EXAMPLE_SERVICE, Registry  # noqa: E402
from tests.support.kubernetes_cluster import connect, create_deployment, kubeconfig_path, namespace  # noqa: E402
from tests.support.rollout import roll_out, wait_stable, wait_stable_after  # noqa: E402
from tests.support.swarm import (  # noqa: E402
    Versions,
    create_service,
    ensure_swarm,
    push_versions,
    remove_service,
)

Report = dict[str, object]
# rollout IMAGE ENV... → its report; wait-stable for that report [extra flags] → (code, report)
RollOut = Callable[..., Report]
WaitStable = Callable[..., tuple[int, Report]]

DOCKER = ["/usr/bin/docker"]
TARGET_SECONDS = 3.0
READINESS_TIMEOUT = "6"


def build_example(base_image: str) -> str:
    tag = f"fastapi-ci-example:bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [*DOCKER, "build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag,
         str(EXAMPLE_SERVICE)],
        env={**os.environ, "DOCKER_BUILDKIT": "1"}, check=True, capture_output=True,
    )  # fmt: skip
    return tag


def seconds(report: dict[str, object], end: str, start: str) -> float:
    return float(report[end]) - float(report[start])  # type: ignore[arg-type]


def one_run(
    roll_out: RollOut, wait_stable: WaitStable, versions: Versions, run: int
) -> tuple[float, float, float, float]:
    """(complete→return, crash signal→rollback, first 503→rollback, not-ready verdict→rollback)."""
    # A changed env makes every healthy rollout a real update, run after run.
    image = versions.v2 if run % 2 == 0 else versions.v1
    code, healthy = wait_stable(roll_out(image, f"BENCH_RUN={run}"))
    assert code == 0, healthy
    complete_to_return = seconds(healthy, "returned_at", "complete_at")

    code, crashed = wait_stable(roll_out(image, "DATABASE_URL=bogus://nowhere/x"))
    assert code == 1, crashed
    assert crashed["rolled_back"], crashed
    crash_detection = seconds(crashed, "rollback_begun_at", "failure_signal_at")

    started = roll_out(image, "DATABASE_URL=postgresql://u:p@127.0.0.1:1/x")
    code, unready = wait_stable(started, "--readiness-timeout", READINESS_TIMEOUT)
    assert code == 1, unready
    assert unready["rolled_back"], unready
    verdict = seconds(unready, "rollback_begun_at", "failure_seen_at")
    first_503 = seconds(unready, "rollback_begun_at", "readiness_first_failure_at")
    return complete_to_return, crash_detection, first_503, verdict


@contextlib.contextmanager
def swarm_service(
    versions: Versions, registry: Registry, database_url: str
) -> Iterator[tuple[RollOut, WaitStable]]:
    """A Swarm service at v1; rollout and wait-stable on it."""
    ensure_swarm(DOCKER)
    service = create_service(DOCKER, versions, registry, database_url)
    try:
        yield (
            lambda image, *env: roll_out(service, image, *env),
            lambda started, *extra: wait_stable(service, str(started["deployed_image"]), *extra),
        )
    finally:
        remove_service(DOCKER, service.name)


@contextlib.contextmanager
def kubernetes_deployment(
    versions: Versions, database_url: str
) -> Iterator[tuple[RollOut, WaitStable]]:
    """A Deployment at v1 in a namespace of its own; rollout and wait-stable on it."""
    cluster = connect(kubeconfig_path())
    os.environ["KUBECONFIG"] = cluster.kubeconfig  # the actions run in this process
    with namespace(cluster) as name:
        deployment = create_deployment(cluster, name, versions.v1, database_url)
        yield (
            lambda image, *env: roll_out(deployment, image, *env),
            lambda started, *extra: wait_stable_after(deployment, started, *extra),
        )


def main() -> int:
    """Run the benchmark and print the medians with PASS/MISS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["swarm", "kubernetes"], default="swarm")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--base-image",
        default=os.environ.get("FASTAPI_CI_BASE_IMAGE", "fastapi-ci/python-standin:3.11"),
    )
    args = parser.parse_args()
    registry = Registry(
        host=os.environ.get("FASTAPI_CI_REGISTRY", "127.0.0.1:5000"),
        username=os.environ.get("FASTAPI_CI_REGISTRY_USER", "ci-user"),
        password=os.environ.get("FASTAPI_CI_REGISTRY_PASSWORD", "ci-password-123"),
    )
    database_url = os.environ.get(
        "FASTAPI_CI_DATABASE_URL", "postgresql://fastapi_ci:fastapi_ci@127.0.0.1:5432/fastapi_ci"
    )
    example = build_example(args.base_image)
    versions = push_versions(DOCKER, example, registry)
    target = (
        swarm_service(versions, registry, database_url)
        if args.backend == "swarm"
        else kubernetes_deployment(versions, database_url)
    )
    rows: list[tuple[float, float, float, float]] = []
    try:
        with target as (roll_out, wait_stable):
            for run in range(args.runs):
                rows.append(one_run(roll_out, wait_stable, versions, run))
                print(f"run {run + 1}: " + ", ".join(f"{value:.2f}s" for value in rows[-1]))
    finally:
        subprocess.run(
            [*DOCKER, "image", "rm", "-f", example, versions.v1, versions.v2],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(versions.docker_config, ignore_errors=True)
    names = (
        "rollout complete → wait-stable returned",
        "crash at start: crash → rollback begun",
        "503 ready: first 503 seen → rollback begun",
        "503 ready: readiness verdict → rollback begun",
    )
    print(f"\nmedian of {len(rows)} runs ({args.backend} backend):")
    for index, name in enumerate(names):
        median = statistics.median(row[index] for row in rows)
        verdict = " PASS" if median < TARGET_SECONDS else " MISS"
        print(f"  {name}: {median:.2f}s{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
