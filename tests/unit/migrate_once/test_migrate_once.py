"""migrate-once's inputs, log reading and result; the lock helper's non-PostgreSQL paths."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from fastapi_ci.action_io import Console
from fastapi_ci.cli import main
from fastapi_ci.errors import InputError
from fastapi_ci.migrate_once import MigrateOnceInputs, migration_environment, run_migrate_once
from fastapi_ci.migrate_once.migration_log import parse_migration_log
from fastapi_ci.migrate_once.runners import MigrationJob, RunOutcome
from fastapi_ci.migration_lock import MigrationLockTimeoutError, migration_lock
from tests.support.components import EXAMPLE_SERVICE, REPO_ROOT

LOCK = "INFO  [alembic.migration_lock] migration lock 'alembic_version'"
LEADER_LOG = (
    f"{LOCK} acquired after 1.5s; database at revision ''\n"
    "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n"
    "INFO  [alembic.runtime.migration] Running upgrade  -> 0001, Create the items table.\n"
    "INFO  [alembic.runtime.migration] Running upgrade 0001 -> 0002, Add items.updated_at.\n"
    f"{LOCK} released; database at revision '0002'\n"
)


def test_the_vendored_lock_in_the_example_service_is_the_shipped_one() -> None:
    shipped = REPO_ROOT / "scripts" / "fastapi_ci" / "migration_lock.py"
    vendored = EXAMPLE_SERVICE / "app" / "alembic" / "migration_lock.py"
    assert vendored.read_text() == shipped.read_text(), "copy the shipped file over it"


def test_a_leader_log_gives_revisions_applied_and_the_lock_wait() -> None:
    log = parse_migration_log(LEADER_LOG)

    assert log.applied == ["0001", "0002"]
    assert (log.revision_before, log.revision_after) == ("", "0002")
    assert log.lock_wait_seconds == 1.5
    assert log.error is None


def test_a_log_without_the_lock_helper_still_gives_revisions_from_alembic() -> None:
    log = parse_migration_log("INFO  [alembic] Running upgrade 0002 -> 0003, x\n")

    assert (log.revision_before, log.revision_after, log.applied) == ("0002", "0003", ["0003"])


def test_the_last_error_line_of_a_traceback_is_the_error() -> None:
    log = parse_migration_log(
        "Traceback (most recent call last):\n  File 'x'\n"
        'sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedTable) relation "x" ...\n'
        "[SQL: UPDATE x]\n"
    )

    assert log.error is not None
    assert log.error.startswith("sqlalchemy.exc.ProgrammingError: (psycopg.errors.Undefined")


class ScriptedRunner:
    """A runner that returns a fixed outcome (the result logic without a real runner)."""

    name = "scripted"

    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        self.jobs: list[MigrationJob] = []

    def run(self, job: MigrationJob, console: Console) -> RunOutcome:
        self.jobs.append(job)
        return self.outcome


def console() -> Console:
    return Console(env={}, stdout=io.StringIO(), stderr=io.StringIO())


def test_outputs_of_a_successful_run() -> None:
    runner = ScriptedRunner(RunOutcome(exit_code=0, logs=LEADER_LOG, where="pid 1"))
    inputs = MigrateOnceInputs(runner="kubernetes", image="x:1", command="alembic upgrade head")

    result = run_migrate_once(inputs, console(), runner)

    assert result.passed
    assert result.outputs["revision-before"] == ""
    assert result.outputs["revision-after"] == "0002"
    assert result.outputs["applied"] == "0001 0002"
    assert float(result.outputs["duration"]) >= 0
    # In the image: its python3 runs the lock launcher, which runs the command.
    assert runner.jobs[0].command[:2] == ["python3", "-c"]
    assert runner.jobs[0].command[3:] == ["--", "alembic", "upgrade", "head"]
    assert result.summary.startswith("### ✅ migrate-once: migration succeeded")


def test_without_the_lock_the_command_runs_as_given_and_the_summary_warns() -> None:
    runner = ScriptedRunner(RunOutcome(exit_code=0, logs=LEADER_LOG, where="pid 1"))
    inputs = MigrateOnceInputs(runner="kubernetes", image="x:1", lock=False)
    output = console()

    result = run_migrate_once(inputs, output, runner)

    assert runner.jobs[0].command == ["alembic", "upgrade", "head"]
    assert "concurrent runs are NOT serialized: lock is false" in output.stderr.getvalue()  # type: ignore[attr-defined]
    assert "⚠️ NONE, concurrent runs are not serialized: lock is false" in result.summary


def test_a_database_the_launcher_cannot_lock_is_a_warning_on_terminal_and_summary() -> None:
    logs = (
        "WARNING [fastapi-ci.migrate-once] no migration lock: fastapi-ci has none for mssql; "
        "concurrent runs are NOT serialized\n"
    )
    runner = ScriptedRunner(RunOutcome(exit_code=0, logs=logs, where="pid 1"))
    output = console()

    result = run_migrate_once(MigrateOnceInputs(runner="local"), output, runner)

    assert "fastapi-ci has none for mssql" in output.stderr.getvalue()  # type: ignore[attr-defined]
    assert "⚠️ NONE, concurrent runs are not serialized: fastapi-ci has none for mssql" in (
        result.summary
    )
    assert "fastapi-ci has none for mssql" in result.report["unserialized_because"]


def test_a_run_at_head_reports_the_revision_before_and_after() -> None:
    logs = (
        "INFO  [fastapi-ci.migrate-once] migration lock 'fastapi-ci-migrate-once' acquired "
        "after 1.5s; database at revision '0003'\n"
    )
    runner = ScriptedRunner(RunOutcome(exit_code=0, logs=logs, where="pid 1"))

    result = run_migrate_once(MigrateOnceInputs(runner="local"), console(), runner)

    assert result.outputs["revision-before"] == "0003"
    assert result.outputs["revision-after"] == "0003"
    assert result.outputs["applied"] == ""


def test_a_failed_run_closes_the_gate_with_one_error_naming_the_database_error() -> None:
    logs = "sqlalchemy.exc.IntegrityError: (psycopg.errors.NotNullViolation) boom\n"
    runner = ScriptedRunner(RunOutcome(exit_code=1, logs=logs, where="pid 1"))

    result = run_migrate_once(MigrateOnceInputs(runner="local"), console(), runner)

    assert not result.passed
    assert result.outputs["applied"] == ""
    (annotation,) = result.annotations
    assert annotation.message == (
        "migration failed (exit code 1): sqlalchemy.exc.IntegrityError: "
        "(psycopg.errors.NotNullViolation) boom"
    )


def test_env_values_and_names_copied_from_the_environment() -> None:
    inputs = MigrateOnceInputs.model_validate(
        {"runner": "docker", "env": ["A=1", "SECRET"], "database_url": "postgresql://db/x"}
    )

    env = migration_environment(inputs, {"SECRET": "s3"})

    assert env == {"A": "1", "SECRET": "s3", "DATABASE_URL": "postgresql://db/x"}


def test_an_env_name_missing_from_the_environment_is_bad_input() -> None:
    inputs = MigrateOnceInputs.model_validate({"runner": "docker", "env": ["SECRET"]})

    with pytest.raises(InputError, match="input 'env': SECRET is not set"):
        migration_environment(inputs, {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runner", "nomad"], "error: [migrate-once] input 'runner': Input should be"),
        (["--runner", "docker"], "error: [migrate-once] input 'image': is required with runner"),
        (
            ["--runner", "ecs", "--task-definition", "app:1"],
            "error: [migrate-once] input 'cluster': is required with runner",
        ),
        (["--runner", "local", "--command", "'"], "error: [migrate-once] input 'command'"),
        (
            ["--runner", "local", "--command", "no-such-migrator up"],
            "error: [migrate-once] input 'command': 'no-such-migrator' was not found",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["migrate-once", *argv])

    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert len(errors) == 1
    assert errors[0].startswith(message)


def test_the_sqlite_lock_makes_a_second_migrator_wait(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    order: list[str] = []

    def second() -> None:
        with engine.connect() as connection, migration_lock(connection, poll_interval=0.01):
            order.append("second")

    with engine.connect() as connection, migration_lock(connection):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.2)
        order.append("first")
    waiter.join(timeout=10)

    assert order == ["first", "second"]


def test_a_lock_that_is_never_released_times_out_with_a_clear_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with (
        engine.connect() as holder,
        migration_lock(holder),
        engine.connect() as waiter,
        pytest.raises(MigrationLockTimeoutError, match="still holds the migration lock"),
        migration_lock(waiter, timeout=0.1, poll_interval=0.01),
    ):
        pass


def test_an_in_memory_database_needs_no_lock() -> None:
    with create_engine("sqlite://").connect() as connection, migration_lock(connection):
        pass
