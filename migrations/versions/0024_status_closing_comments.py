"""status: the closing-comment worker's bookkeeping on linked tickets

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "closing_attempts",
    "closing_next_attempt_at",
    "closing_lease_owner",
    "closing_lease_expires_at",
    "closing_last_error",
    "closing_skipped_reason",
    "closing_external_comment_id",
)


def upgrade() -> None:
    with op.batch_alter_table("status_incident_tickets") as batch:
        batch.add_column(
            sa.Column("closing_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("closing_next_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("closing_lease_owner", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("closing_lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("closing_last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("closing_skipped_reason", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("closing_external_comment_id", sa.String(length=200), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("status_incident_tickets") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
