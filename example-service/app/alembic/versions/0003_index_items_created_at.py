"""Index items.created_at, built CONCURRENTLY on PostgreSQL.

N-1 compatible: an index changes no result, so the previous release runs unchanged. On
PostgreSQL the index is built with CREATE INDEX CONCURRENTLY, which does not block writes
to items while it builds but refuses to run inside a transaction: it runs in an
autocommit block (env.py migrates with one transaction per revision, so the stamp of 0002
is committed before the block, and the stamp of 0003 only after the index is built).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:00:02

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_items_created_at"


def upgrade() -> None:
    """Create ``ix_items_created_at`` (CONCURRENTLY on PostgreSQL)."""
    if op.get_context().dialect.name != "postgresql":
        # SQLite has no CONCURRENTLY (and one writer at a time): a plain index.
        op.create_index(op.f(INDEX), "items", ["created_at"])
        return
    with op.get_context().autocommit_block():
        # Waiting behind a long transaction, give up after 5 s and let the deploy be retried.
        op.execute("SET lock_timeout = '5s'")
        # A build that did not finish (lock_timeout, or a migrator killed in the middle)
        # leaves an INVALID index of this name behind, and no stamp: the retry, or the
        # waiter taking over, drops it and builds it again. A no-op on a clean database.
        op.drop_index(op.f(INDEX), table_name="items", postgresql_concurrently=True, if_exists=True)
        op.create_index(op.f(INDEX), "items", ["created_at"], postgresql_concurrently=True)


def downgrade() -> None:
    """Drop ``ix_items_created_at`` (CONCURRENTLY on PostgreSQL)."""
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(op.f(INDEX), table_name="items")
        return
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        op.drop_index(op.f(INDEX), table_name="items", postgresql_concurrently=True)
