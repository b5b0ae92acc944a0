"""saml assertions: the IDs of SAML assertions already used, so that replays are refused

Revision ID: 0033
Revises: 0032

A new table only; rows are deleted once the assertion has expired.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saml_assertions",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("assertion_id", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saml_assertions")),
        sa.UniqueConstraint(
            "provider", "assertion_id", name=op.f("uq_saml_assertions_provider_assertion_id")
        ),
    )
    op.create_index(op.f("ix_saml_assertions_expires_at"), "saml_assertions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_saml_assertions_expires_at"), table_name="saml_assertions")
    op.drop_table("saml_assertions")
