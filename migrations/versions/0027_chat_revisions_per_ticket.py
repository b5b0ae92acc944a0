"""chat: changes are numbered per ticket, so chat writes lock per ticket, not per cluster

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing numbers were unique across all tickets, so they are unique per ticket too.
    op.create_index(
        "ix_chat_messages_ticket_id_revision",
        "chat_messages",
        ["ticket_id", "revision"],
        unique=True,
    )
    op.drop_index("ix_chat_messages_revision", table_name="chat_messages")


def downgrade() -> None:
    # Per-ticket numbers may repeat across tickets: renumber them globally (in the order
    # they were given per ticket) before the old cluster-wide unique index comes back.
    op.execute(
        "UPDATE chat_messages SET revision = ("
        " SELECT COUNT(*) FROM chat_messages AS older WHERE older.revision IS NOT NULL"
        " AND (older.revision < chat_messages.revision OR (older.revision = chat_messages.revision"
        " AND older.id <= chat_messages.id))) WHERE revision IS NOT NULL"
    )
    op.create_index("ix_chat_messages_revision", "chat_messages", ["revision"], unique=True)
    op.drop_index("ix_chat_messages_ticket_id_revision", table_name="chat_messages")
