"""The kubernetes runner against a fake cluster that models Job status faithfully."""

from __future__ import annotations

import io

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fastapi_ci.action_io import Console
from fastapi_ci.errors import InputError
from fastapi_ci.migrate_once.runners import MigrationJob
from fastapi_ci.migrate_once.runners.kubernetes import KubernetesApis, KubernetesRunner
from tests.unit.migrate_once.fake_kubernetes import (
    FakeCluster,
    deployment,
    failed,
    running,
    succeeded,
    terminated_pod,
    waiting_pod,
)

MIGRATION_LOG = (
    "INFO  [alembic.migration_lock] migration lock 'alembic_version' acquired after 0.0s; "
    "database at revision '0001'\n"
    "INFO  [alembic.runtime.migration] Running upgrade 0001 -> 0002, add a column\n"
)
JOB = MigrationJob(
    command=["alembic", "upgrade", "head"],
    env={"LOG_LEVEL": "DEBUG"},
    timeout_seconds=60,
    image="registry.example/orders:2.0",
)


def runner_for(cluster: FakeCluster, **options: object) -> KubernetesRunner:
    apis = KubernetesApis(batch=cluster, core=cluster, apps=cluster, watch=cluster.watch)
    return KubernetesRunner(apis=apis, namespace="shop", poll_seconds=0.01, **options)  # type: ignore[arg-type]


def console() -> Console:
    return Console(env={}, stdout=io.StringIO(), stderr=io.StringIO())


def test_a_complete_job_succeeds_with_the_pod_log_and_is_deleted() -> None:
    cluster = FakeCluster(
        statuses=[running(), succeeded()],
        pod=lambda name: terminated_pod(name, 0, "Completed"),
        log=MIGRATION_LOG,
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.succeeded
    assert outcome.logs == MIGRATION_LOG
    (name,) = cluster.jobs
    assert cluster.deleted == [(name, "Background")]
    assert outcome.details["job_condition"] == "Complete"


def test_the_job_runs_once_with_a_deadline_a_ttl_and_the_new_image() -> None:
    cluster = FakeCluster(statuses=[succeeded()], pod=lambda n: terminated_pod(n, 0, "Completed"))

    runner_for(cluster).run(JOB, console())

    (job,) = cluster.jobs.values()
    assert job.spec.backoff_limit == 0
    assert job.spec.active_deadline_seconds == 60
    assert job.spec.ttl_seconds_after_finished > 0
    pod = job.spec.template.spec
    assert pod.restart_policy == "Never"
    (container,) = pod.containers
    assert container.image == "registry.example/orders:2.0"
    assert container.args == ["alembic", "upgrade", "head"]


def test_a_failed_job_fails_with_its_reason_exit_code_and_log() -> None:
    log = "sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedTable) no\n"
    cluster = FakeCluster(
        statuses=[running(), failed("BackoffLimitExceeded")],
        pod=lambda name: terminated_pod(name, 1, "Error"),
        log=log,
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert not outcome.succeeded
    assert outcome.exit_code == 1
    assert outcome.failure == (
        "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
    )
    assert outcome.logs == log
    assert cluster.deleted


def test_a_job_past_its_deadline_fails_as_deadline_exceeded() -> None:
    cluster = FakeCluster(
        statuses=[running(), failed("DeadlineExceeded")],
        pod=lambda name: terminated_pod(name, 137, "Error"),
        log="still migrating...\n",
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.failure.startswith("job failed: DeadlineExceeded")


def test_a_job_that_never_finishes_times_out_says_why_and_is_deleted() -> None:
    cluster = FakeCluster(
        statuses=[],
        pod=lambda name: waiting_pod(name, "ImagePullBackOff", "Back-off pulling image"),
    )
    job = MigrationJob(command=["alembic"], env={}, timeout_seconds=0.3, image="x:1")

    outcome = runner_for(cluster, deadline_grace_seconds=0).run(job, console())

    assert outcome.exit_code is None
    assert outcome.failure == "timed out after 0s (pod: ImagePullBackOff: Back-off pulling image)"
    assert "no log from pod" in outcome.logs
    assert cluster.deleted


def test_a_watch_that_ends_early_is_resumed_until_the_job_finishes() -> None:
    cluster = FakeCluster(
        statuses=[running(), running(), succeeded()],
        pod=lambda name: terminated_pod(name, 0, "Completed"),
        log=MIGRATION_LOG,
        watch_stops_after=1,
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.succeeded
    assert cluster.calls.count("watch") >= 2


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.ProtocolError("Connection broken: reset by peer"),
        ApiException(status=410, reason="Gone"),
    ],
    ids=["connection-reset", "gone"],
)
def test_a_watch_broken_by_an_error_is_resumed_not_taken_for_a_failure(error: Exception) -> None:
    cluster = FakeCluster(
        statuses=[running(), succeeded()],
        pod=lambda name: terminated_pod(name, 0, "Completed"),
        log=MIGRATION_LOG,
        watch_error=error,
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.succeeded
    assert cluster.calls.count("watch") >= 2


def test_env_and_secrets_come_from_the_deployment_and_the_job_env_wins() -> None:
    app = client.V1Container(
        name="app",
        image="registry.example/orders:1.0",
        env=[
            client.V1EnvVar(name="LOG_LEVEL", value="INFO"),
            client.V1EnvVar(
                name="DATABASE_URL",
                value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name="orders-db", key="url")
                ),
            ),
        ],
        env_from=[client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name="cfg"))],
    )
    cluster = FakeCluster(
        statuses=[succeeded()],
        pod=lambda n: terminated_pod(n, 0, "Completed"),
        deployments={"orders": deployment("orders", app)},
    )

    runner_for(cluster, deployment="orders", container="app").run(JOB, console())

    (job,) = cluster.jobs.values()
    assert job.metadata.name.startswith("orders-migrate-")
    pod = job.spec.template.spec
    (container,) = pod.containers
    env = {each.name: each for each in container.env}
    assert env["LOG_LEVEL"].value == "DEBUG"
    assert env["DATABASE_URL"].value_from.secret_key_ref.name == "orders-db"
    assert container.env_from[0].config_map_ref.name == "cfg"
    assert pod.service_account_name == "orders-migrator"
    assert pod.image_pull_secrets[0].name == "ghcr"


def test_a_missing_container_in_the_deployment_is_bad_input() -> None:
    app = client.V1Container(name="app", image="x")
    cluster = FakeCluster(statuses=[], deployments={"orders": deployment("orders", app)})

    with pytest.raises(InputError, match=r"input 'container': deployment orders has no container"):
        runner_for(cluster, deployment="orders", container="web").run(JOB, console())


def test_a_transient_api_error_is_retried() -> None:
    cluster = FakeCluster(
        statuses=[succeeded()],
        pod=lambda n: terminated_pod(n, 0, "Completed"),
        create_failures=[ApiException(status=503, reason="Service Unavailable")],
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.succeeded
    assert cluster.calls.count("create_namespaced_job") == 2
