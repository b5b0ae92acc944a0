"""status: outbound mails can carry a published update

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("status_outbound") as batch:
        batch.add_column(
            sa.Column(
                "update_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_foreign_key(
            op.f("fk_status_outbound_update_id_status_updates"),
            "status_updates",
            ["update_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("status_outbound") as batch:
        batch.drop_constraint(
            op.f("fk_status_outbound_update_id_status_updates"), type_="foreignkey"
        )
        batch.drop_column("update_id")
