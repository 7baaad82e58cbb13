"""Add items.updated_at and an index on items.name.

N-1 compatible: the column is nullable and filled by the new code only, so the
previous release keeps inserting and reading items while this revision is live.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:00:01

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``items.updated_at`` (nullable) and ``ix_items_name``."""
    if op.get_context().dialect.name == "postgresql":
        # Queued behind a long transaction, the ACCESS EXCLUSIVE lock would block every
        # query on items: give up after 5 s instead, and let the deploy be retried.
        op.execute("SET lock_timeout = '5s'")
    op.add_column("items", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    # Released with 0001, on an empty items table; a released revision is never edited.
    # migration-lint: allow require-concurrent-index-creation -- released with 0001 (empty)
    op.create_index(op.f("ix_items_name"), "items", ["name"])


def downgrade() -> None:
    """Drop ``ix_items_name`` and ``items.updated_at``."""
    op.drop_index(op.f("ix_items_name"), table_name="items")
    # batch_alter_table rebuilds the table on SQLite, which cannot always drop a column in place.
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("updated_at")
