"""saved replies: personal and shared texts for the chat composer

Revision ID: 0032
Revises: 0031

A new table only. Titles are unique per owner; the (shared, id) index serves the
listing of shared replies in id order, the unique constraint the owner's own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bigid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "saved_replies",
        sa.Column("owner_user_id", _bigid(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_saved_replies_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_replies")),
        sa.UniqueConstraint(
            "owner_user_id", "title", name=op.f("uq_saved_replies_owner_user_id_title")
        ),
    )
    op.create_index("ix_saved_replies_shared_id", "saved_replies", ["shared", "id"])


def downgrade() -> None:
    op.drop_index("ix_saved_replies_shared_id", table_name="saved_replies")
    op.drop_table("saved_replies")
