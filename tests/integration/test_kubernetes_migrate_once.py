"""migrate-once --runner kubernetes: real Jobs of the example image on the real cluster.

The Job copies the app Deployment's pod settings; the Deployment (0 replicas: only its
template matters) runs on the host network, so the Job's alembic reaches the host's
PostgreSQL on 127.0.0.1 like the app would.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import Registry
from tests.support.kubernetes_cluster import Cluster, deployment_manifest, namespace
from tests.support.migrate_once import (
    assert_applied_exactly_once,
    ddl_counts,
    finish,
    query,
    record_ddl,
    run_concurrently,
    start_migrate_once,
)
from tests.support.swarm import Versions

pytestmark = [
    pytest.mark.kubernetes,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.postgres,
]

BROKEN_REVISION = '''"""Add a column, then fail."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("items", sa.Column("fastapi_ci_broken", sa.Integer()))
    op.execute("UPDATE no_such_table SET x = 1")
'''


@pytest.fixture
def app_deployment(
    kubernetes: Cluster, versions: Versions, fresh_database: str
) -> Iterator[list[str]]:
    """The app's Deployment (at v1, DATABASE_URL in its env); migrate-once flags naming it."""
    with namespace(kubernetes) as name:
        deployment = f"example-{uuid.uuid4().hex[:8]}"
        manifest = deployment_manifest(deployment, versions.v1, 8000, fresh_database, 60)
        manifest["spec"]["replicas"] = 0
        kubernetes.apis.apps.create_namespaced_deployment(name, manifest)
        yield ["--runner", "kubernetes", "--namespace", name, "--deployment", deployment]


@pytest.fixture(scope="module")
def broken_image(versions: Versions, registry: Registry, docker_cli: list[str]) -> Iterator[str]:
    """v2 plus a revision 0004 that adds a column, then fails, pushed to the local registry."""
    tag = versions.v2.rsplit(":", 1)[0] + f":broken-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as context:
        Path(context, "0004_broken.py").write_text(BROKEN_REVISION)
        Path(context, "Dockerfile").write_text(
            f"FROM {versions.v2}\nCOPY 0004_broken.py /app/app/alembic/versions/\n"
        )
        env = {"DOCKER_CONFIG": versions.docker_config}
        for command in (["build", "-t", tag, context], ["push", tag]):
            subprocess.run(
                [*docker_cli, *command], env=env, check=True, capture_output=True, timeout=300
            )
    yield tag
    subprocess.run([*docker_cli, "image", "rm", "-f", tag], capture_output=True, check=False)


def test_a_job_of_the_new_image_migrates_the_database_and_streams_its_log(
    app_deployment: list[str], versions: Versions, fresh_database: str
) -> None:
    run = finish(start_migrate_once([*app_deployment, "--image", versions.v2]))

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.report["applied"] == ["0001", "0002", "0003"]
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("0003",)]
    # alembic's own lines, relayed from the pod's log, before the Job's end is reported.
    log = run.stderr
    assert "Running upgrade 0002 -> 0003" in log, log[-3000:]


def test_the_database_url_input_reaches_the_job_through_a_secret_and_no_spec_shows_it(
    kubernetes: Cluster, versions: Versions, fresh_database: str
) -> None:
    # The Deployment's own DATABASE_URL names a database that does not exist: the migration
    # succeeds only if the step's `database-url` (in the Job's Secret) wins over it.
    password = fresh_database.split("@", 1)[0].rsplit(":", 1)[1]
    wrong_url = fresh_database.rsplit("/", 1)[0] + "/no_such_database"
    with namespace(kubernetes) as name:
        deployment = f"example-{uuid.uuid4().hex[:8]}"
        manifest = deployment_manifest(deployment, versions.v1, 8000, wrong_url, 60)
        manifest["spec"]["replicas"] = 0
        kubernetes.apis.apps.create_namespaced_deployment(name, manifest)
        seen_jobs: list[str] = []
        stop = threading.Event()

        def record_jobs() -> None:  # every Job as the API server stores it, while it exists
            while not stop.is_set():
                for job in kubernetes.apis.batch.list_namespaced_job(name).items:
                    seen_jobs.append(str(job.to_dict()))
                time.sleep(0.2)

        recorder = threading.Thread(target=record_jobs, daemon=True)
        recorder.start()
        try:
            run = finish(
                start_migrate_once(
                    [
                        "--runner",
                        "kubernetes",
                        "--namespace",
                        name,
                        "--deployment",
                        deployment,
                        "--image",
                        versions.v2,
                    ],
                    {"FASTAPI_CI_MIGRATE_ONCE_DATABASE_URL": fresh_database},
                )
            )
        finally:
            stop.set()
            recorder.join()
        leftover = kubernetes.apis.core.list_namespaced_secret(
            name, label_selector="app.kubernetes.io/managed-by=fastapi-ci"
        ).items

    assert run.returncode == 0, run.stderr[-3000:]
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("0003",)]
    assert seen_jobs, "the Job was never seen while it ran"
    assert not [job for job in seen_jobs if password in job]
    assert "secret_key_ref" in seen_jobs[0]
    assert leftover == []


def test_a_failing_migration_fails_the_job_and_leaves_the_schema(
    app_deployment: list[str], versions: Versions, broken_image: str, fresh_database: str
) -> None:
    assert finish(start_migrate_once([*app_deployment, "--image", versions.v2])).returncode == 0

    run = finish(start_migrate_once([*app_deployment, "--image", broken_image]))

    assert run.returncode == 1, run.stderr[-3000:]
    assert 'relation "no_such_table" does not exist' in run.report["error"], run.report
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("0003",)]
    columns = query(
        fresh_database,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'",
    )
    assert ("fastapi_ci_broken",) not in columns


def test_ten_concurrent_jobs_apply_each_revision_once(
    app_deployment: list[str], versions: Versions, fresh_database: str
) -> None:
    record_ddl(fresh_database)
    started = time.monotonic()
    runs = run_concurrently(10, [*app_deployment, "--image", versions.v2], {})
    elapsed = time.monotonic() - started

    assert_applied_exactly_once(runs, ["0001", "0002", "0003"])
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("0003",)]
    ddl = ddl_counts(fresh_database)
    assert ddl[("CREATE TABLE", "public.items")] == 1
    assert all(times == 1 for times in ddl.values()), ddl
    print(f"\n10 concurrent kubernetes migrate-once runs: {elapsed:.1f}s")
