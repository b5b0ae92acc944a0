"""chat: edits and deletions are numbered, so a resuming client gets the ones it missed

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (no table copy on SQLite). Messages changed before
    # this revision keep NULL: they were changed before any client could resume from here.
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("changed_after_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_chat_messages_revision", ["revision"], unique=True)


def downgrade() -> None:
    # Not batch mode: on SQLite a batch drop copies the table, and dropping the old one
    # would cascade to the audit trail and write-backs. ALTER TABLE DROP COLUMN (SQLite
    # 3.35+) keeps the rows in place.
    op.drop_index("ix_chat_messages_revision", table_name="chat_messages")
    op.drop_column("chat_messages", "changed_after_id")
    op.drop_column("chat_messages", "revision")
