"""sync: malformed items a connector skipped, shown in the instance's health

Revision ID: 0020
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connector_instances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("skipped_items", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("last_skipped", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_skipped_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connector_instances", schema=None) as batch_op:
        batch_op.drop_column("last_skipped_at")
        batch_op.drop_column("last_skipped")
        batch_op.drop_column("skipped_items")
