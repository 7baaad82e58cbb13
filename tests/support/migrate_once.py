"""Running `fastapi-ci migrate-once --json` as processes, and reading what it did to the database.

Shared by the migrate-once tests of the local, Docker and Kubernetes runners.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

RUN_TIMEOUT_SECONDS = 300


@dataclass
class Run:
    """One finished `fastapi-ci migrate-once --json` process."""

    returncode: int
    report: dict[str, Any]
    stderr: str


def start_migrate_once(args: Sequence[str], env: Mapping[str, str] | None = None) -> Any:
    """Start `fastapi-ci migrate-once ARGS --json` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "fastapi_ci", "migrate-once", *args, "--json"],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: Any) -> Run:
    """Wait for a started run and read its JSON report."""
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    report = json.loads(stdout) if stdout.strip().startswith("{") else {}
    return Run(returncode=process.returncode, report=report, stderr=stderr)


def run_concurrently(count: int, args: Sequence[str], env: Mapping[str, str]) -> list[Run]:
    """Start `count` runs at once and wait for all of them."""
    processes = [start_migrate_once(args, env) for _ in range(count)]
    return [finish(process) for process in processes]


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one query on `url`."""
    with psycopg.connect(url, autocommit=True) as connection:
        return list(connection.execute(sql).fetchall())  # type: ignore[arg-type]


def applications_per_revision(url: str) -> dict[str, int]:
    """How many times each fixture revision ran (one row per application)."""
    rows = query(url, "SELECT revision, count(*) FROM migration_runs GROUP BY revision")
    return {str(revision): int(count) for revision, count in rows}


def invalid_indexes(url: str) -> list[str]:
    """Indexes a failed CREATE INDEX CONCURRENTLY left behind."""
    rows = query(url, "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
    return [str(row[0]) for row in rows]


def index_validity(url: str, name: str) -> list[bool]:
    """`pg_index.indisvalid` of every index called `name` (none: [])."""
    sql = (
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s"
    )
    with psycopg.connect(url, autocommit=True) as connection:
        return [bool(row[0]) for row in connection.execute(sql, (name,)).fetchall()]


def record_ddl(url: str) -> None:
    """Log every DDL command run in the database from now on into `ddl_log`."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            """
            CREATE TABLE ddl_log (command_tag text, object_identity text);
            CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
            DECLARE command record;
            BEGIN
              FOR command IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
                INSERT INTO public.ddl_log VALUES (command.command_tag, command.object_identity);
              END LOOP;
            END $$;
            CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();
            """
        )


def ddl_counts(url: str) -> dict[tuple[str, str], int]:
    """How many times each (command, object) of `record_ddl` ran."""
    rows = query(url, "SELECT command_tag, object_identity, count(*) FROM ddl_log GROUP BY 1, 2")
    return {(str(tag), str(identity)): int(count) for tag, identity, count in rows}


def assert_applied_exactly_once(runs: list[Run], revisions: list[str]) -> None:
    """Every run passed; one applied everything, the others found the database at head."""
    failures = [run.stderr[-2000:] for run in runs if run.returncode != 0]
    assert not failures, failures[0]
    applied = sorted((run.report["applied"] for run in runs), key=len, reverse=True)
    assert applied[0] == revisions
    assert all(each == [] for each in applied[1:])
    assert {run.report["revision_after"] for run in runs} == {revisions[-1]}
