"""files: attachments of chat messages (their bytes live in the blob store)

Revision ID: 0030
Revises: 0029

A new table, and one nullable column on chat_messages (plain ADD COLUMN on both
databases: no table copy on SQLite), so existing messages simply have no attachments.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bigid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_attachments_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("uploader_user_id", _bigid(), nullable=True),
        sa.Column("ticket_id", _bigid(), nullable=False),
        sa.Column("chat_message_id", _bigid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        _fk("chat_message_id", "chat_messages", "CASCADE"),
        _fk("ticket_id", "tickets", "CASCADE"),
        _fk("uploader_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_chat_message_id", "attachments", ["chat_message_id"])
    op.create_index(op.f("ix_attachments_created_at"), "attachments", ["created_at"])
    op.create_index(op.f("ix_attachments_sha256"), "attachments", ["sha256"])
    op.create_index(op.f("ix_attachments_ticket_id"), "attachments", ["ticket_id"])
    op.add_column(
        "chat_messages",
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    # ALTER TABLE DROP COLUMN (SQLite 3.35+) keeps chat_messages in place (see 0025).
    op.drop_column("chat_messages", "attachments")
    op.drop_table("attachments")
