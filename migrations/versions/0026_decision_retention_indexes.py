"""policy: indexes for the decision retention pass

Revision ID: 0026
Revises: 0025

The pass (app/policy/retention.py) walks policy_decisions oldest first, in chunks, and
keeps the decisions of events that still have undelivered outbox rows. No foreign key
points at policy_decisions, so deleting rows needs no ON DELETE change.

Plain CREATE INDEX on both databases (no table copy on SQLite). On PostgreSQL it holds a
write lock on each table while the index builds: on a large policy_decisions, migrate
during the deploy, before the new version serves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = sa.text("status IN ('pending', 'dead')")


def upgrade() -> None:
    op.create_index("ix_policy_decisions_created_at_id", "policy_decisions", ["created_at", "id"])
    op.create_index(
        "ix_deliveries_in_flight_event_key",
        "deliveries",
        ["event_key"],
        sqlite_where=IN_FLIGHT,
        postgresql_where=IN_FLIGHT,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_in_flight_event_key", table_name="deliveries")
    op.drop_index("ix_policy_decisions_created_at_id", table_name="policy_decisions")
