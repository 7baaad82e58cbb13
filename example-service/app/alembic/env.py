"""Alembic environment: URL from the service settings; async engine online, plain SQL offline."""

import asyncio
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from app.alembic.migration_lock import MigrationLockTimeoutError, migration_lock
from app.core.config import Settings, settings_error_message
from app.core.db import describe_db_error
from app.models import Base

config = context.config
if config.config_file_name is not None:
    # Keep loggers created before alembic runs (the app's, when tests call alembic).
    fileConfig(config.config_file_name, disable_existing_loggers=False)

try:
    settings = Settings()
except ValidationError as exc:
    # alembic prints a CommandError as one "FAILED: ..." line, without a traceback.
    raise CommandError(settings_error_message(exc)) from None

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit the migration SQL (``alembic upgrade head --sql``) without connecting."""
    context.configure(
        url=settings.DATABASE_URL,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=settings.is_sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection``: a transaction per revision, one migrator at a time."""
    # Concurrent callers (a retried job, replicas started together) wait for the lock
    # holder here, then find the database at head; see migration_lock.py for why it polls.
    try:
        with migration_lock(connection):
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            # One transaction per revision: a revision's autocommit_block (CREATE INDEX
            # CONCURRENTLY) commits what ran before it, so each revision commits with its
            # own stamp, and a waiter taking over from a killed leader resumes after the
            # last finished revision instead of repeating committed work.
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=settings.is_sqlite,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    except MigrationLockTimeoutError as exc:
        raise CommandError(str(exc)) from None


async def run_async_migrations() -> None:
    """Connect with the service's async driver and run the migrations."""
    # The URL is passed as a dict, not through the ini file, where '%' would be interpolated.
    engine = async_engine_from_config(
        {"sqlalchemy.url": settings.DATABASE_URL}, poolclass=pool.NullPool
    )
    try:
        connection = await engine.connect()
    except Exception as exc:
        raise CommandError(f"cannot connect to the database: {describe_db_error(exc)}") from None
    try:
        await connection.run_sync(do_run_migrations)
    finally:
        await connection.close()
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
