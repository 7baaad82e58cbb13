"""migrate-once against real PostgreSQL: many concurrent runs, each revision applied once.

The fixture project's revisions INSERT a row into `migration_runs` each time they are
applied, so "exactly once" is counted, not inferred; 0002 builds an index CONCURRENTLY
(the case that deadlocks waiters holding a transaction); 0003 can be made slow, so a test
can kill the leader in the middle of it. The example image's revisions write no such rows:
there an event trigger records every DDL command the runs execute (its 0003 also builds an
index CONCURRENTLY).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import psycopg
import pytest

from fastapi_ci.migration_lock import lock_key
from tests.support.components import (
    REPO_ROOT,
    Postgres,
    Registry,
    postgres_settings,
    throwaway_database,
)
from tests.support.migrate_once import (
    applications_per_revision,
    assert_applied_exactly_once,
    ddl_counts,
    finish,
    index_validity,
    invalid_indexes,
    query,
    record_ddl,
    run_concurrently,
    start_migrate_once,
)

FIXTURE_PROJECT = REPO_ROOT / "tests" / "fixtures" / "migrate_once" / "alembic_project"
# No migration lock in its env.py, and a URL built from POSTGRES_* settings.
SETTINGS_PROJECT = REPO_ROOT / "tests" / "fixtures" / "projects" / "env-settings-postgres"
ALEMBIC = f"{sys.executable} -m alembic upgrade head"


def local_args(project: Path = FIXTURE_PROJECT) -> list[str]:
    """migrate-once flags for the fixture project on the local runner."""
    return ["--runner", "local", "--working-directory", str(project), "--command", ALEMBIC]


@pytest.mark.postgres
@pytest.mark.parametrize("count", [10, 25])
def test_concurrent_local_runs_apply_each_revision_exactly_once(
    fresh_database: str, count: int
) -> None:
    started = time.monotonic()
    runs = run_concurrently(count, local_args(), {"DATABASE_URL": fresh_database})
    elapsed = time.monotonic() - started

    assert_applied_exactly_once(runs, ["0001", "0002", "0003"])
    assert applications_per_revision(fresh_database) == {"0001": 1, "0002": 1, "0003": 1}
    assert invalid_indexes(fresh_database) == []
    print(f"\n{count} concurrent local migrate-once runs: {elapsed:.1f}s")


@pytest.mark.postgres
@pytest.mark.docker
@pytest.mark.parametrize("count", [10, 25])
def test_concurrent_docker_runs_of_the_example_image_apply_each_revision_once(
    fresh_database: str, example_image: str, count: int
) -> None:
    record_ddl(fresh_database)
    args = ["--runner", "docker", "--image", example_image, "--database-url", fresh_database]
    started = time.monotonic()
    runs = run_concurrently(count, args, {})
    elapsed = time.monotonic() - started

    assert_applied_exactly_once(runs, ["0001", "0002", "0003"])
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("0003",)]
    # What each revision does to the schema happened once: 0001 creates items, 0002 adds
    # a column and ix_items_name, 0003 builds ix_items_created_at CONCURRENTLY.
    ddl = ddl_counts(fresh_database)
    assert ddl[("CREATE TABLE", "public.items")] == 1
    assert ddl[("ALTER TABLE", "public.items")] == 1
    assert ddl[("CREATE INDEX", "public.ix_items_name")] == 1
    assert ddl[("CREATE INDEX", "public.ix_items_created_at")] == 1
    assert all(times == 1 for times in ddl.values()), ddl
    assert index_validity(fresh_database, "ix_items_created_at") == [True]
    assert invalid_indexes(fresh_database) == []
    print(f"\n{count} concurrent docker migrate-once runs: {elapsed:.1f}s")


@pytest.mark.postgres
def test_a_killed_leader_is_taken_over_by_a_waiter(fresh_database: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "leader.pid"
    env = {"DATABASE_URL": fresh_database}
    leader = start_migrate_once(
        local_args(),
        {**env, "SLOW_MIGRATION_SECONDS": "120", "SLOW_MIGRATION_PID_FILE": str(pid_file)},
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.exists(), "the leader never reached the slow revision"
    waiters = [start_migrate_once(local_args(), env) for _ in range(3)]
    time.sleep(3)  # the waiters are polling the lock now

    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    killed_at = time.monotonic()
    waiter_runs = [finish(waiter) for waiter in waiters]
    takeover = time.monotonic() - killed_at

    assert finish(leader).returncode == 1  # its alembic was killed: the step fails
    assert_applied_exactly_once(waiter_runs, ["0003"])
    assert applications_per_revision(fresh_database) == {"0001": 1, "0002": 1, "0003": 1}
    assert takeover < 15
    print(f"\nwaiter took over and finished {takeover:.1f}s after the leader was killed")


@pytest.mark.postgres
def test_a_failing_migration_exits_1_with_the_database_error_and_leaves_the_schema(
    fresh_database: str, tmp_path: Path
) -> None:
    project = tmp_path / "project with spaces"
    shutil.copytree(FIXTURE_PROJECT, project)
    env = {"DATABASE_URL": fresh_database}
    assert finish(start_migrate_once(local_args(project), env)).returncode == 0
    (project / "migrations" / "versions" / "0004_broken.py").write_text(
        '"""Add a column, then fail."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        'revision = "0004"\ndown_revision = "0003"\n\n\n'
        "def upgrade() -> None:\n"
        '    op.add_column("items", sa.Column("price", sa.Integer()))\n'
        '    op.execute("UPDATE no_such_table SET x = 1")\n'
    )

    run = finish(start_migrate_once(local_args(project), env))

    assert run.returncode == 1
    assert 'relation "no_such_table" does not exist' in run.report["error"]
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "migration failed (exit code 1)" in error_lines[0]
    assert 'relation "no_such_table" does not exist' in error_lines[0]
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("0003",)]
    columns = query(
        fresh_database,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'",
    )
    assert ("price",) not in columns


@pytest.mark.postgres
def test_a_waiter_gives_up_clearly_when_the_lock_is_never_released(
    fresh_database: str,
) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key("alembic_version"),))
        run = finish(
            start_migrate_once(
                local_args(),
                {"DATABASE_URL": fresh_database, "MIGRATION_LOCK_TIMEOUT_SECONDS": "2"},
            )
        )

    assert run.returncode == 1
    assert "another migration still holds the migration lock 'alembic_version'" in run.stderr


@pytest.mark.postgres
def test_an_unreachable_database_fails_in_one_line_before_running_anything() -> None:
    run = finish(
        start_migrate_once(local_args(), {"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/nothing"})
    )

    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[0] == (
        "error: [migrate-once] the database at 127.0.0.1:1 is unreachable: Connection refused"
    )


@pytest.mark.docker
def test_an_image_that_does_not_exist_is_bad_input(
    docker_cli: list[str], registry: Registry
) -> None:
    # A registry that answers but will not serve the image: not worth a retry. (One that
    # refuses connections is retried as a registry outage, then fails with exit 1.)
    image = f"{registry.host}/fastapi-ci/no-such-image:v0"
    run = finish(start_migrate_once(["--runner", "docker", "--image", image]))

    assert run.returncode == 2
    assert f"input 'image': {image} is not on the engine and cannot be pulled" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.postgres
def test_concurrent_runs_are_serialized_without_a_lock_in_env_py(postgres: Postgres) -> None:
    trials, count = 10, 5
    args = [
        "--runner", "local", "--working-directory", str(SETTINGS_PROJECT),
        "--command", f"{sys.executable} -m alembic upgrade head",
    ]  # fmt: skip
    waits: list[float] = []
    started = time.monotonic()
    for trial in range(trials):
        with throwaway_database(postgres, f"serialized_{trial}") as url:
            runs = run_concurrently(count, args, postgres_settings(url))

            assert_applied_exactly_once(runs, ["0001", "0002", "0003"])
            assert query(url, "SELECT version_num FROM alembic_version") == [("0003",)]
            assert {run.report["revision_before"] for run in runs} == {"", "0003"}
            assert all(run.report["unserialized_because"] is None for run in runs)
            waits += [run.report["lock_wait_seconds"] for run in runs]
    print(
        f"\n{trials} trials of {count} concurrent runs: {time.monotonic() - started:.1f}s, "
        f"longest lock wait {max(waits):.1f}s"
    )


@pytest.mark.postgres
def test_the_locking_session_ends_itself_if_its_client_vanishes_or_hangs(
    fresh_database: str,
) -> None:
    from sqlalchemy import create_engine, text

    from fastapi_ci.migration_lock import migration_lock

    url = fresh_database.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.connect() as connection, migration_lock(connection, name="keepalive-test"):
        settings = {
            name: connection.execute(text(f"SHOW {name}")).scalar()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "idle_in_transaction_session_timeout",
            )
        }
        connection.rollback()
    engine.dispose()

    # The server probes a silent client after 30 s and drops it after 3 lost probes; a
    # client idle in a transaction for 10 minutes is disconnected: the lock goes with it.
    assert settings == {
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
        "idle_in_transaction_session_timeout": "10min",
    }
