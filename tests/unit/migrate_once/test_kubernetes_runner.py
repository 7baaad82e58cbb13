"""The kubernetes runner against a fake cluster that models Job status and pod logs faithfully."""

from __future__ import annotations

import io
import threading
import time

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fastapi_ci.action_io import Console, execute
from fastapi_ci.errors import InputError
from fastapi_ci.migrate_once import MIGRATE_ONCE
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome
from fastapi_ci.migrate_once.runners.kubernetes import KubernetesRunner
from tests.support.fake_kubernetes import (
    FakeCluster,
    Output,
    Pause,
    deployment,
    failed,
    running,
    succeeded,
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
    apis = cluster.apis()
    return KubernetesRunner(apis=apis, namespace="shop", poll_seconds=0.01, **options)  # type: ignore[arg-type]


def console(env: dict[str, str] | None = None) -> Console:
    return Console(env=env or {}, stdout=io.StringIO(), stderr=io.StringIO())


def printed(where: Console) -> str:
    return where.stdout.getvalue()  # type: ignore[attr-defined, no-any-return]


def run_bounded(runner: KubernetesRunner, job: MigrationJob, seconds: float) -> RunOutcome:
    """`runner.run`, failing the test (instead of hanging it) if it takes over `seconds`."""
    outcome: list[RunOutcome] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run(job, console())))
    thread.daemon = True
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the runner was still running after {seconds}s"
    return outcome[0]


def test_a_complete_job_succeeds_with_the_pod_log_and_is_deleted() -> None:
    cluster = FakeCluster(statuses=[running(), succeeded()], log=MIGRATION_LOG)
    shown = console()

    outcome = runner_for(cluster).run(JOB, shown)

    assert outcome.succeeded
    assert outcome.logs == MIGRATION_LOG
    for line in MIGRATION_LOG.splitlines():
        assert printed(shown).count(line) == 1
    (name,) = cluster.jobs
    assert cluster.deleted == [(name, "Background")]
    assert outcome.details["job_condition"] == "Complete"


def test_the_job_runs_once_with_a_deadline_a_ttl_and_the_new_image() -> None:
    cluster = FakeCluster(statuses=[succeeded()])

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
        statuses=[running(), failed("BackoffLimitExceeded")], exit_code=1, log=log
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
        exit_code=137,
        log="still migrating...\n",
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.failure.startswith("job failed: DeadlineExceeded")


def test_a_job_that_never_finishes_times_out_says_why_and_is_deleted() -> None:
    cluster = FakeCluster(statuses=[], unschedulable="0/3 nodes are available: 3 Insufficient cpu.")
    job = MigrationJob(command=["alembic"], env={}, timeout_seconds=0.3, image="x:1")

    outcome = run_bounded(runner_for(cluster, deadline_grace_seconds=0), job, seconds=10)

    assert outcome.exit_code is None
    assert outcome.failure == (
        "timed out after 0s (pod: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.)"
    )
    assert "no log from pod" in outcome.logs
    assert cluster.deleted


def test_a_job_whose_pod_is_never_created_times_out_saying_so() -> None:
    cluster = FakeCluster(statuses=[], creates_pod=False)
    job = MigrationJob(command=["alembic"], env={}, timeout_seconds=0.3, image="x:1")

    outcome = run_bounded(runner_for(cluster, deadline_grace_seconds=0), job, seconds=10)

    assert outcome.failure == "timed out after 0s (pod: no pod was created)"
    assert outcome.logs == ""
    assert cluster.deleted


def test_a_pod_stuck_pulling_its_image_fails_at_once_without_hanging() -> None:
    cluster = FakeCluster(
        statuses=[],
        stuck=("ImagePullBackOff", 'Back-off pulling image "registry.example/orders:2.0"'),
    )
    started = time.monotonic()

    # An hour's timeout: only giving up on the stuck pod ends this run in time.
    job = MigrationJob(command=["alembic"], env={}, timeout_seconds=3600, image="x:1")
    outcome = run_bounded(runner_for(cluster), job, seconds=10)

    assert time.monotonic() - started < 10
    assert outcome.exit_code is None
    assert not outcome.succeeded
    assert outcome.failure.startswith("the migration pod cannot start: pod ")
    assert outcome.failure.endswith(
        ': ImagePullBackOff: Back-off pulling image "registry.example/orders:2.0"'
    )
    assert "no log from pod" in outcome.logs
    assert "read_namespaced_pod_log follow" not in cluster.calls  # no log to follow
    assert cluster.deleted


def test_the_log_is_streamed_while_the_job_is_still_active() -> None:
    shown = console()
    more = "INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003, index (café ✓)\n"
    cluster = FakeCluster(
        statuses=[
            running(),
            # The controller reports nothing more until the runner has printed what the
            # container wrote: a runner reading the log only after the Job ends never does.
            Pause(lambda: "Running upgrade 0001 -> 0002" in printed(shown), "the first lines"),
            running(),
            Output(more),
            Pause(lambda: "0002 -> 0003, index (café ✓)" in printed(shown), "a later line"),
            succeeded(),
        ],
        log=MIGRATION_LOG,
        chunk_size=7,  # lines (and the two-byte é, three-byte ✓) split across chunks
    )

    outcome = runner_for(cluster).run(JOB, shown)

    assert outcome.succeeded
    assert outcome.logs == MIGRATION_LOG + more
    for line in (MIGRATION_LOG + more).splitlines():
        assert printed(shown).count(line) == 1, line
    assert "read_namespaced_pod_log follow" in cluster.calls


def test_a_failed_job_shows_its_streamed_log_and_the_step_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = (
        "INFO  [alembic.runtime.migration] Running upgrade 0001 -> 0002, add a column\n"
        "Traceback (most recent call last):\n"
        'sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedTable) relation "x" does '
        "not exist\n"
    )
    shown = console({"GITHUB_ACTIONS": "true"})
    cluster = FakeCluster(
        statuses=[
            running(),
            Pause(lambda: "UndefinedTable" in printed(shown), "the error printed"),
            failed("BackoffLimitExceeded"),
        ],
        exit_code=1,
        log=log,
    )
    monkeypatch.setattr(
        KubernetesRunner, "from_kubeconfig", classmethod(lambda cls, **_: runner_for(cluster))
    )

    code = execute(MIGRATE_ONCE, {"runner": "kubernetes", "image": "x:1"}, shown)

    assert code == 1
    output = printed(shown)
    group = output[output.index("::group::") : output.index("::endgroup::")]
    for line in log.splitlines():
        assert line in group
    errors = [line for line in output.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "migration failed (job failed: BackoffLimitExceeded" in errors[0]
    assert 'relation "x" does not exist' in errors[0]
    assert cluster.deleted


def test_a_stream_that_never_ends_is_given_up_and_the_log_read_whole() -> None:
    cluster = FakeCluster(
        statuses=[
            running(),
            Output("INFO  [alembic] Running upgrade 0002 -> 0003, late line\n"),
            succeeded(),
        ],
        log=MIGRATION_LOG,
        stream_hangs=True,
    )

    outcome = run_bounded(runner_for(cluster, log_drain_seconds=0.2), JOB, seconds=10)

    assert outcome.succeeded
    assert outcome.logs.endswith("Running upgrade 0002 -> 0003, late line\n")
    assert outcome.logs.startswith(MIGRATION_LOG)


def test_a_broken_stream_is_completed_from_the_whole_log_each_line_shown_once() -> None:
    shown = console()
    cluster = FakeCluster(
        statuses=[
            running(),
            Pause(lambda: "Running upgrade 0001" in printed(shown), "the first lines"),
            Output("INFO  [alembic] Running upgrade 0002 -> 0003, after the break\n"),
            succeeded(),
        ],
        log=MIGRATION_LOG,
    )
    original = cluster._write

    def write_then_break(text: str) -> None:  # the API server drops the connection
        for stream in cluster.streams:
            stream.open = False
            stream.server.close()
        original(text)

    cluster._write = write_then_break  # type: ignore[method-assign]

    outcome = runner_for(cluster).run(JOB, shown)

    assert outcome.succeeded
    assert outcome.logs.endswith("after the break\n")
    for line in outcome.logs.splitlines():
        assert printed(shown).count(line) == 1, line
    assert "log stream of job" in printed(shown)


def test_a_watch_that_ends_early_is_resumed_until_the_job_finishes() -> None:
    cluster = FakeCluster(
        statuses=[running(), running(), succeeded()], log=MIGRATION_LOG, watch_stops_after=1
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
    cluster = FakeCluster(statuses=[running(), succeeded()], log=MIGRATION_LOG, watch_error=error)

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
    cluster = FakeCluster(statuses=[succeeded()], deployments={"orders": deployment("orders", app)})

    runner_for(cluster, deployment="orders", container="app").run(JOB, console())

    (job,) = cluster.jobs.values()
    assert job.metadata.name.startswith("orders-migrate-")
    pod = job.spec.template.spec
    (container,) = pod.containers
    env = {each.name: each for each in container.env}
    assert env["LOG_LEVEL"].value_from.secret_key_ref.key == "LOG_LEVEL"
    assert cluster.secrets[job.metadata.name].string_data == {"LOG_LEVEL": "DEBUG"}
    assert env["DATABASE_URL"].value_from.secret_key_ref.name == "orders-db"
    assert container.env_from[0].config_map_ref.name == "cfg"
    assert pod.service_account_name == "orders-migrator"
    assert pod.image_pull_secrets[0].name == "ghcr"


def test_the_steps_variables_reach_the_job_through_its_own_secret_never_its_spec() -> None:
    # A Job's spec is plain text to anyone who may `get jobs`; the step's variables are the
    # database URL and the names listed in `env`: secrets by design.
    password_url = "postgresql://app:s3cret@db.internal/orders"
    job = MigrationJob(
        command=["alembic", "upgrade", "head"],
        env={"DATABASE_URL": password_url, "API_TOKEN": "t0ken"},
        timeout_seconds=60,
        image="registry.example/orders:2.0",
    )
    cluster = FakeCluster(statuses=[succeeded()])

    runner_for(cluster).run(job, console())

    (name,) = cluster.jobs
    (created,) = cluster.jobs.values()
    spec_text = str(created.to_dict())
    assert "s3cret" not in spec_text
    assert "t0ken" not in spec_text
    env = {
        each.name: each.value_from.secret_key_ref
        for each in created.spec.template.spec.containers[0].env
    }
    assert {n: (ref.name, ref.key) for n, ref in env.items()} == {
        "DATABASE_URL": (name, "DATABASE_URL"),
        "API_TOKEN": (name, "API_TOKEN"),
    }
    secret = cluster.secrets[name]
    assert secret.string_data == {"DATABASE_URL": password_url, "API_TOKEN": "t0ken"}
    # Owned by the Job (the cluster deletes it with the Job), and deleted by the runner now.
    (owner,) = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Job", name, f"uid-{name}")
    assert cluster.deleted_secrets == [name]
    assert cluster.calls.index("create_namespaced_secret") < cluster.calls.index(
        "create_namespaced_job"
    )


def test_a_job_that_cannot_be_created_leaves_no_secret_behind() -> None:
    forbidden = ApiException(status=403, reason="Forbidden")
    cluster = FakeCluster(statuses=[succeeded()], create_failures=[forbidden])

    with pytest.raises(ApiException, match="Forbidden"):
        runner_for(cluster).run(JOB, console())

    (name,) = cluster.secrets
    assert cluster.deleted_secrets == [name]
    assert not cluster.jobs


def test_a_job_without_variables_needs_no_secret() -> None:
    cluster = FakeCluster(statuses=[succeeded()])
    bare = MigrationJob(
        command=["alembic", "upgrade", "head"], env={}, timeout_seconds=60, image="x:1"
    )

    runner_for(cluster).run(bare, console())

    assert "create_namespaced_secret" not in cluster.calls
    assert not cluster.jobs[next(iter(cluster.jobs))].spec.template.spec.containers[0].env


def test_the_job_reaches_the_database_as_the_app_does_from_the_apps_nodes() -> None:
    # Seen on the real cluster: the app on the host network reaches PostgreSQL on
    # 127.0.0.1, a Job on the pod network is refused there.
    app = client.V1Container(name="app", image="registry.example/orders:1.0")
    source = deployment("orders", app)
    source.spec.template.spec.host_network = True
    source.spec.template.spec.dns_policy = "ClusterFirstWithHostNet"
    source.spec.template.spec.node_selector = {"pool": "db-access"}
    source.spec.template.spec.tolerations = [
        client.V1Toleration(key="dedicated", operator="Exists", effect="NoSchedule")
    ]
    cluster = FakeCluster(statuses=[succeeded()], deployments={"orders": source})

    runner_for(cluster, deployment="orders", container="app").run(JOB, console())

    (job,) = cluster.jobs.values()
    pod = job.spec.template.spec
    assert pod.host_network is True
    assert pod.dns_policy == "ClusterFirstWithHostNet"
    assert pod.node_selector == {"pool": "db-access"}
    assert pod.tolerations[0].key == "dedicated"


def test_a_missing_container_in_the_deployment_is_bad_input() -> None:
    app = client.V1Container(name="app", image="x")
    cluster = FakeCluster(statuses=[], deployments={"orders": deployment("orders", app)})

    with pytest.raises(InputError, match=r"input 'container': deployment orders has no container"):
        runner_for(cluster, deployment="orders", container="web").run(JOB, console())


def test_a_transient_api_error_is_retried() -> None:
    cluster = FakeCluster(
        statuses=[succeeded()],
        create_failures=[ApiException(status=503, reason="Service Unavailable")],
    )

    outcome = runner_for(cluster).run(JOB, console())

    assert outcome.succeeded
    assert cluster.calls.count("create_namespaced_job") == 2
