"""notifications: follows, preferences, destinations, the delivery outbox, the inbox

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
PENDING = sa.text("status = 'pending'")
UNREAD = sa.text("read_at IS NULL")


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _fk(column: str, table: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete=ondelete)


def upgrade() -> None:
    op.add_column(
        "tickets", sa.Column("followable", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table(
        "ticket_follows",
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("ticket_id", "ticket_follows", "tickets.id", "CASCADE"),
        _fk("user_id", "ticket_follows", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_follows")),
        sa.UniqueConstraint(
            "ticket_id", "user_id", name=op.f("uq_ticket_follows_ticket_id_user_id")
        ),
    )
    op.create_index(op.f("ix_ticket_follows_user_id"), "ticket_follows", ["user_id"])
    op.create_table(
        "service_follows",
        sa.Column("service_slug", sa.String(length=100), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("user_id", "service_follows", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_follows")),
        sa.UniqueConstraint(
            "service_slug", "user_id", name=op.f("uq_service_follows_service_slug_user_id")
        ),
    )
    op.create_index(op.f("ix_service_follows_user_id"), "service_follows", ["user_id"])
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("user_id", "notification_preferences", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "notification_destinations",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("secrets_sealed", sa.Text(), nullable=False),
        sa.Column("url_masked", sa.String(length=300), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("user_id", "notification_destinations", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_destinations")),
    )
    op.create_index(
        op.f("ix_notification_destinations_user_id"), "notification_destinations", ["user_id"]
    )
    _create_deliveries()
    _create_notifications()


def _create_deliveries() -> None:
    op.create_table(
        "deliveries",
        sa.Column("idempotency_key", sa.String(length=500), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("recipient_key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("destination_id", ID, nullable=True),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("timing", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("collapse_key", sa.String(length=500), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=True),
        sa.Column("deliver_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("digest_id", ID, nullable=True),
        sa.Column("superseded_by", ID, nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("user_id", "deliveries", "users.id", "CASCADE"),
        _fk("destination_id", "deliveries", "notification_destinations.id", "SET NULL"),
        _fk("ticket_id", "deliveries", "tickets.id", "CASCADE"),
        _fk("digest_id", "deliveries", "deliveries.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_deliveries_idempotency_key")),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["deliver_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_deliveries_pending_collapse_key",
        "deliveries",
        ["collapse_key"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index("ix_deliveries_status_id", "deliveries", ["status", "id"])
    op.create_index(op.f("ix_deliveries_digest_id"), "deliveries", ["digest_id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _fk("delivery_id", "delivery_attempts", "deliveries.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(op.f("ix_delivery_attempts_delivery_id"), "delivery_attempts", ["delivery_id"])


def _create_notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=500), nullable=False),
        sa.Column("delivery_id", ID, nullable=True),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        _id(),
        _fk("user_id", "notifications", "users.id", "CASCADE"),
        _fk("delivery_id", "notifications", "deliveries.id", "SET NULL"),
        _fk("ticket_id", "notifications", "tickets.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notifications_idempotency_key")),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id"],
        sqlite_where=UNREAD,
        postgresql_where=UNREAD,
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("delivery_attempts")
    op.drop_table("deliveries")
    op.drop_table("notification_destinations")
    op.drop_table("notification_preferences")
    op.drop_table("service_follows")
    op.drop_table("ticket_follows")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("followable")
