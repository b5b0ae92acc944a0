"""status: services, incidents, updates, audit, linked tickets, subscribers, feed tokens

Revision ID: 0006
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _at(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def _services_and_incidents() -> None:
    op.create_table(
        "status_services",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("group_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("override_status", sa.String(length=30), nullable=True),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
        _id(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_services")),
        sa.UniqueConstraint("slug", name=op.f("uq_status_services_slug")),
    )
    op.create_table(
        "status_incidents",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("public_title", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        _at("scheduled_start"),
        _at("scheduled_end"),
        _at("started_at"),
        _at("resolved_at"),
        sa.Column("created_by_user_id", ID, nullable=True),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
        _id(),
        _fk("status_incidents", "created_by_user_id", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_incidents")),
    )
    op.create_index("ix_status_incidents_resolved_at", "status_incidents", ["resolved_at"])
    op.create_table(
        "status_incident_services",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("service_id", ID, nullable=False),
        sa.Column("impact", sa.String(length=30), nullable=False),
        _fk("status_incident_services", "incident_id", "status_incidents.id", "CASCADE"),
        _fk("status_incident_services", "service_id", "status_services.id", "CASCADE"),
        sa.PrimaryKeyConstraint(
            "incident_id", "service_id", name=op.f("pk_status_incident_services")
        ),
    )
    op.create_index(
        op.f("ix_status_incident_services_service_id"), "status_incident_services", ["service_id"]
    )


def _updates_and_audit() -> None:
    op.create_table(
        "status_updates",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("author_user_id", ID, nullable=True),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("public_body", sa.Text(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("published_body", sa.Text(), nullable=True),
        _at("published_at"),
        sa.Column("decided_by_user_id", ID, nullable=True),
        _at("decided_at"),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
        _id(),
        _fk("status_updates", "incident_id", "status_incidents.id", "CASCADE"),
        _fk("status_updates", "author_user_id", "users.id", "SET NULL"),
        _fk("status_updates", "decided_by_user_id", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_updates")),
    )
    op.create_index("ix_status_updates_incident_id_id", "status_updates", ["incident_id", "id"])
    op.create_index("ix_status_updates_state_audience", "status_updates", ["state", "audience"])
    op.create_table(
        "status_audit",
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("update_id", ID, nullable=True),
        sa.Column("service_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        _at("created_at", nullable=False),
        _id(),
        _fk("status_audit", "update_id", "status_updates.id", "CASCADE"),
        _fk("status_audit", "service_id", "status_services.id", "CASCADE"),
        _fk("status_audit", "user_id", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_audit")),
    )
    op.create_index(op.f("ix_status_audit_update_id"), "status_audit", ["update_id"])
    op.create_index(op.f("ix_status_audit_service_id"), "status_audit", ["service_id"])
    op.create_table(
        "status_incident_tickets",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("linked_by_user_id", ID, nullable=True),
        _at("created_at", nullable=False),
        sa.Column("closing_update_id", ID, nullable=True),
        _at("closing_requested_at"),
        _at("closing_written_at"),
        _id(),
        _fk("status_incident_tickets", "incident_id", "status_incidents.id", "CASCADE"),
        _fk("status_incident_tickets", "ticket_id", "tickets.id", "CASCADE"),
        _fk("status_incident_tickets", "linked_by_user_id", "users.id", "SET NULL"),
        _fk("status_incident_tickets", "closing_update_id", "status_updates.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_incident_tickets")),
        sa.UniqueConstraint(
            "incident_id",
            "ticket_id",
            name=op.f("uq_status_incident_tickets_incident_id_ticket_id"),
        ),
    )
    op.create_index(
        op.f("ix_status_incident_tickets_ticket_id"), "status_incident_tickets", ["ticket_id"]
    )


def _subscribers() -> None:
    op.create_table(
        "status_subscribers",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("secret_sealed", sa.Text(), nullable=True),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("pending_service_ids", JSON, nullable=False),
        sa.Column("token_nonce", sa.String(length=64), nullable=False),
        _at("confirmed_at"),
        _at("unsubscribed_at"),
        sa.Column("created_by_user_id", ID, nullable=True),
        _at("created_at", nullable=False),
        _id(),
        _fk("status_subscribers", "created_by_user_id", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_subscribers")),
        sa.UniqueConstraint("email", name=op.f("uq_status_subscribers_email")),
    )
    op.create_table(
        "status_subscriber_services",
        sa.Column("subscriber_id", ID, nullable=False),
        sa.Column("service_id", ID, nullable=False),
        _fk("status_subscriber_services", "subscriber_id", "status_subscribers.id", "CASCADE"),
        _fk("status_subscriber_services", "service_id", "status_services.id", "CASCADE"),
        sa.PrimaryKeyConstraint(
            "subscriber_id", "service_id", name=op.f("pk_status_subscriber_services")
        ),
    )
    op.create_index(
        op.f("ix_status_subscriber_services_service_id"),
        "status_subscriber_services",
        ["service_id"],
    )
    op.create_table(
        "status_outbound",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("subscriber_id", ID, nullable=False),
        _at("created_at", nullable=False),
        _at("sent_at"),
        _id(),
        _fk("status_outbound", "subscriber_id", "status_subscribers.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_outbound")),
    )
    op.create_index(op.f("ix_status_outbound_subscriber_id"), "status_outbound", ["subscriber_id"])
    op.create_index(op.f("ix_status_outbound_sent_at"), "status_outbound", ["sent_at"])
    op.create_table(
        "status_feed_tokens",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _at("created_at", nullable=False),
        _id(),
        _fk("status_feed_tokens", "user_id", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_feed_tokens")),
        sa.UniqueConstraint("user_id", name=op.f("uq_status_feed_tokens_user_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_status_feed_tokens_token_hash")),
    )
    # One row, created by the first change (the status page reads revision 0 until then).
    op.create_table(
        "status_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        _at("changed_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_revision")),
    )


def upgrade() -> None:
    _services_and_incidents()
    _updates_and_audit()
    _subscribers()


def downgrade() -> None:
    for table in (
        "status_revision",
        "status_feed_tokens",
        "status_outbound",
        "status_subscriber_services",
        "status_subscribers",
        "status_incident_tickets",
        "status_audit",
        "status_updates",
        "status_incident_services",
        "status_incidents",
        "status_services",
    ):
        op.drop_table(table)
