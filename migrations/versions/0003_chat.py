"""chat: messages, their audit trail, read state, pending write-backs

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bigid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[int]:
    return sa.Column("id", _bigid(), autoincrement=True, nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("ticket_id", _bigid(), nullable=False),
        sa.Column("author_user_id", _bigid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("client_msg_id", sa.String(length=100), nullable=False),
        sa.Column(
            "mentions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("external_comment_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        _id(),
        _fk("chat_messages", "author_user_id", "users", "SET NULL"),
        _fk("chat_messages", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "author_user_id",
            "client_msg_id",
            name=op.f("uq_chat_messages_author_user_id_client_msg_id"),
        ),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index("ix_chat_messages_ticket_id_id", ["ticket_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chat_messages_notified_at"), ["notified_at"], unique=False
        )

    op.create_table(
        "chat_read_states",
        sa.Column("user_id", _bigid(), nullable=False),
        sa.Column("ticket_id", _bigid(), nullable=False),
        sa.Column("last_read_message_id", _bigid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("chat_read_states", "ticket_id", "tickets", "CASCADE"),
        _fk("chat_read_states", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_read_states")),
        sa.UniqueConstraint(
            "user_id", "ticket_id", name=op.f("uq_chat_read_states_user_id_ticket_id")
        ),
    )
    op.create_table(
        "chat_message_audit",
        sa.Column("message_id", _bigid(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("old_body", sa.Text(), nullable=False),
        sa.Column("actor_user_id", _bigid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("chat_message_audit", "actor_user_id", "users", "SET NULL"),
        _fk("chat_message_audit", "message_id", "chat_messages", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_message_audit")),
    )
    with op.batch_alter_table("chat_message_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_message_audit_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "chat_writebacks",
        sa.Column("message_id", _bigid(), nullable=False),
        sa.Column("connector_id", _bigid(), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("skipped_reason", sa.Text(), nullable=True),
        sa.Column("external_comment_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        _id(),
        _fk("chat_writebacks", "connector_id", "connector_instances", "CASCADE"),
        _fk("chat_writebacks", "message_id", "chat_messages", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_writebacks")),
        sa.UniqueConstraint("message_id", name=op.f("uq_chat_writebacks_message_id")),
    )
    with op.batch_alter_table("chat_writebacks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_writebacks_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_writebacks", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_writebacks_state_next_attempt_at")
    op.drop_table("chat_writebacks")
    with op.batch_alter_table("chat_message_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_message_audit_message_id"))
    op.drop_table("chat_message_audit")
    op.drop_table("chat_read_states")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_messages_notified_at"))
        batch_op.drop_index("ix_chat_messages_ticket_id_id")
    op.drop_table("chat_messages")
