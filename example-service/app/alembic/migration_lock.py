"""Run alembic migrations exactly once when many callers start at the same time.

Shipped by fastapi-ci as ONE self-contained file (standard library + SQLAlchemy) so a
project can copy it next to its alembic ``env.py`` (or import ``fastapi_ci.migration_lock``
when fastapi-ci is installed in the project environment). Use it around the migrations, on
the connection alembic migrates with::

    with connectable.connect() as connection:
        with migration_lock(connection):
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()

Why this shape (each of the obvious alternatives was measured to fail):

* The lock is SESSION-level and taken on the migration's OWN connection: a lock held on a
  second connection hangs invisibly when that connection dies or the pool recycles it, and
  a transaction-level lock would end with alembic's first commit (``autocommit_block``).
* Waiters POLL ``pg_try_advisory_lock`` and hold no transaction between polls. A waiter
  blocked in ``pg_advisory_lock`` inside a transaction keeps a snapshot open, and
  ``CREATE INDEX CONCURRENTLY`` in the leader waits for every such snapshot: a deadlock
  PostgreSQL does not detect.
* Once a waiter gets the lock, alembic finds the database at head and does nothing.
* If the leader dies, its session ends, PostgreSQL releases the lock (and rolls back the
  unfinished transactional DDL), and the next poll of a waiter takes over. A leader that
  VANISHES (its machine or network gone, no FIN) is noticed by the server through TCP
  keepalives set on the session (about a minute), and one that hangs inside a transaction
  by ``idle_in_transaction_session_timeout`` (unless the role already sets one): either way
  the session ends and the lock with it, instead of blocking every deploy for hours.
* With ``autocommit_block`` revisions (``CREATE INDEX CONCURRENTLY``), configure alembic
  with ``transaction_per_migration=True``: ``autocommit_block`` commits the transaction
  open so far, and without per-revision transactions a leader killed later rolls back the
  version stamps but not the committed work, so the waiter taking over repeats it.

MySQL/MariaDB use ``GET_LOCK`` (session-level too); SQLite uses an ``fcntl`` lock on a file
beside the database. Progress is logged on the ``alembic.migration_lock`` logger, which the
standard ``alembic.ini`` shows (the ``alembic`` logger at INFO); fastapi-ci's migrate-once
reads these lines for its outputs, so keep their wording.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, column, inspect, select, table, text

__all__ = ["MigrationLockTimeoutError", "migration_lock"]

# Under the `alembic` logger on purpose: alembic.ini files configure that one at INFO.
logger = logging.getLogger("alembic.migration_lock")

DEFAULT_TIMEOUT_SECONDS = 600.0
TIMEOUT_ENVIRONMENT_VARIABLE = "MIGRATION_LOCK_TIMEOUT_SECONDS"
POLL_INTERVAL_SECONDS = 0.2
# How often a waiter says it is still waiting (a silent wait looks like a hang).
PROGRESS_INTERVAL_SECONDS = 10.0
# Server-side keepalives of the locking session (seconds idle, between probes, probes lost).
SERVER_KEEPALIVES = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10,
                     "tcp_keepalives_count": 3}  # fmt: skip
IDLE_IN_TRANSACTION_TIMEOUT = "10min"


class MigrationLockTimeoutError(TimeoutError):
    """Another migration held the lock for longer than the caller was willing to wait."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (what PostgreSQL takes)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def current_revisions(
    connection: Connection, version_table: str = "alembic_version", schema: str | None = None
) -> str:
    """The revision(s) the database is at ("" when not migrated yet), comma-separated.

    Leaves no transaction open, so it is safe before and after the migration.
    """
    try:
        if not inspect(connection).has_table(version_table, schema=schema):
            return ""
        versions = table(version_table, column("version_num"), schema=schema)
        rows = connection.execute(select(versions.c.version_num)).scalars().all()
        return ",".join(sorted(str(row) for row in rows))
    finally:
        _end_transaction(connection)


def _end_transaction(connection: Connection) -> None:
    # SQLAlchemy 2 begins a transaction on the first statement; end it so no snapshot is held.
    if connection.in_transaction():
        connection.rollback()


def _timeout_from_environment() -> float:
    raw = os.environ.get(TIMEOUT_ENVIRONMENT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENVIRONMENT_VARIABLE} must be a number, got {raw!r}") from None


@contextmanager
def migration_lock(
    connection: Connection,
    *,
    name: str = "alembic_version",
    version_table: str = "alembic_version",
    timeout: float | None = None,
    poll_interval: float = POLL_INTERVAL_SECONDS,
    version_table_schema: str | None = None,
) -> Iterator[None]:
    """Hold the database's migration lock ``name`` on ``connection`` for the block.

    ``version_table`` (and ``version_table_schema``) are alembic's
    (``context.configure(version_table=...)``): the revision it holds is logged on acquiring
    and on releasing, for migrate-once's outputs.

    ``timeout`` (seconds, default ``$MIGRATION_LOCK_TIMEOUT_SECONDS`` or 600) bounds the wait;
    past it ``MigrationLockTimeoutError`` says who to look for. Call it before
    ``context.configure``/``begin_transaction`` so alembic owns its own transactions.
    """
    wait_limit = _timeout_from_environment() if timeout is None else timeout
    dialect = connection.dialect.name
    started = time.monotonic()
    with _acquire(connection, dialect, name, wait_limit, poll_interval):
        logger.info(
            "migration lock %r acquired after %.1fs; database at revision %r",
            name,
            time.monotonic() - started,
            current_revisions(connection, version_table, version_table_schema),
        )
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            _end_transaction(connection)
            if succeeded:
                logger.info(
                    "migration lock %r released; database at revision %r",
                    name,
                    current_revisions(connection, version_table, version_table_schema),
                )


def _poll(try_once: Iterator[bool], name: str, timeout: float, interval: float) -> None:
    """Call ``next(try_once)`` until it is True, logging progress; raise after ``timeout``."""
    started = time.monotonic()
    next_progress = started + PROGRESS_INTERVAL_SECONDS
    while not next(try_once):
        now = time.monotonic()
        if now - started >= timeout:
            raise MigrationLockTimeoutError(
                f"another migration still holds the migration lock {name!r} after "
                f"{timeout:.0f}s; if none is running, look for a stuck session holding it "
                f"(PostgreSQL: pg_locks where locktype = 'advisory')"
            )
        if now >= next_progress:
            logger.info("waiting for the migration lock %r (%.0fs)", name, now - started)
            next_progress = now + PROGRESS_INTERVAL_SECONDS
        time.sleep(interval)


@contextmanager
def _acquire(
    connection: Connection, dialect: str, name: str, timeout: float, interval: float
) -> Iterator[None]:
    if dialect == "postgresql":
        with _postgresql_lock(connection, name, timeout, interval):
            yield
    elif dialect in ("mysql", "mariadb"):
        with _mysql_lock(connection, name, timeout, interval):
            yield
    elif dialect == "sqlite":
        with _sqlite_lock(connection, name, timeout, interval):
            yield
    else:
        raise NotImplementedError(
            f"migration_lock supports postgresql, mysql, mariadb and sqlite, not {dialect}"
        )


def _try_statement(connection: Connection, statement: str, **params: object) -> Iterator[bool]:
    """Run a non-blocking try-lock statement per poll, ending its transaction each time."""
    while True:
        acquired = bool(connection.execute(text(statement), params).scalar())
        _end_transaction(connection)
        yield acquired


@contextmanager
def _postgresql_lock(
    connection: Connection, name: str, timeout: float, interval: float
) -> Iterator[None]:
    key = lock_key(name)
    _guard_session(connection)
    attempts = _try_statement(connection, "SELECT pg_try_advisory_lock(:key)", key=key)
    _poll(attempts, name, timeout, interval)
    try:
        yield
    finally:
        _end_transaction(connection)  # an aborted transaction refuses every statement
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        connection.commit()


def _guard_session(connection: Connection) -> None:
    """Make the server end this session, and so the lock, if its client vanishes or hangs."""
    settings = [
        *(f"set_config('{name}', '{value}', false)" for name, value in SERVER_KEEPALIVES.items()),
        # Only when the role or database does not set its own.
        "CASE WHEN current_setting('idle_in_transaction_session_timeout') IN ('0', '0ms') "
        f"THEN set_config('idle_in_transaction_session_timeout', '{IDLE_IN_TRANSACTION_TIMEOUT}', "
        "false) END",
    ]
    _end_transaction(connection)
    connection.execute(text(f"SELECT {', '.join(settings)}"))
    connection.commit()  # a session setting made in a transaction that rolls back is undone


@contextmanager
def _mysql_lock(
    connection: Connection, name: str, timeout: float, interval: float
) -> Iterator[None]:
    # GET_LOCK names are at most 64 characters.
    lock_name = f"migration:{name}"[:64]
    attempts = _try_statement(connection, "SELECT GET_LOCK(:name, 0)", name=lock_name)
    _poll(attempts, name, timeout, interval)
    try:
        yield
    finally:
        _end_transaction(connection)
        connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": lock_name})
        connection.commit()


def _try_file_lock(handle: IO[bytes]) -> Iterator[bool]:
    import fcntl  # POSIX only, and only SQLite needs it

    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True


@contextmanager
def _sqlite_lock(
    connection: Connection, name: str, timeout: float, interval: float
) -> Iterator[None]:
    database = connection.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        yield  # an in-memory database belongs to this process alone
        return
    # A file beside the database: SQLite's own locks last one transaction, not a migration.
    lock_path = Path(f"{database}-{name}.lock")
    with lock_path.open("ab") as handle:
        _poll(_try_file_lock(handle), name, timeout, interval)
        yield  # closing the file releases the lock, also when the process dies
