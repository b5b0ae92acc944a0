"""status: subscriber mails go through the outbox; status_outbound is dropped

Revision ID: 0029
Revises: 0028

Status e-mail subscribers' mails (opt-in confirmations, published public updates) were
rows of `status_outbound`, sent by a mailer of their own without leases or retries. They
are now outbox rows (`deliveries`, channel `status_email`). Every unsent row is copied
into the outbox, due at once, under the keys the application writes
(`status.update:<u>:status-subscriber:<s>:status_email`; a confirmation gets
`status.subscription:<s>:outbound-<row>:status-subscriber:<s>:status_email`); duplicate
update mails to one subscriber become one row. Sent rows are history only and go with
the table.

Downgrade recreates `status_outbound` and moves the pending `status_email` rows back into
it (those already sent, skipped or dead stay in the outbox as history).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_COLUMNS = (
    "idempotency_key, event_key, recipient_key, channel, timing, status, payload,"
    " deliver_at, attempts, created_at, updated_at"
)


def _json_object(dialect: str) -> str:
    return "jsonb_build_object" if dialect == "postgresql" else "json_object"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    obj = _json_object(dialect)
    update_event = "'status.update:' || update_id"
    recipient = "'status-subscriber:' || subscriber_id"
    # Constant SQL (no input anywhere), composed per dialect.
    op.execute(
        f"INSERT INTO deliveries ({_COLUMNS}) "  # noqa: S608
        f"SELECT {update_event} || ':' || {recipient} || ':' || 'status_email', {update_event}, "
        f"{recipient}, 'status_email', 'send', 'pending', "
        f"{obj}('kind', 'update', 'subscriber_id', subscriber_id, 'update_id', update_id), "
        "MIN(created_at), 0, MIN(created_at), MIN(created_at) "
        "FROM status_outbound "
        "WHERE sent_at IS NULL AND kind = 'status_update' AND update_id IS NOT NULL "
        "GROUP BY subscriber_id, update_id"
    )
    # ':' apart from the word after it: `:name` in the SQL would be a bind parameter.
    confirm_event = "'status.subscription:' || subscriber_id || ':' || 'outbound-' || id"
    op.execute(
        f"INSERT INTO deliveries ({_COLUMNS}) "  # noqa: S608
        f"SELECT {confirm_event} || ':' || {recipient} || ':' || 'status_email', {confirm_event}, "
        f"{recipient}, 'status_email', 'send', 'pending', "
        f"{obj}('kind', 'confirm', 'subscriber_id', subscriber_id), "
        "created_at, 0, created_at, created_at "
        "FROM status_outbound "
        "WHERE sent_at IS NULL AND kind = 'subscription_confirmation'"
    )
    op.drop_index(op.f("ix_status_outbound_sent_at"), table_name="status_outbound")
    op.drop_index(op.f("ix_status_outbound_subscriber_id"), table_name="status_outbound")
    op.drop_table("status_outbound")


def downgrade() -> None:
    op.create_table(
        "status_outbound",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("subscriber_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("update_id", ID, nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["status_subscribers.id"],
            name=op.f("fk_status_outbound_subscriber_id_status_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["status_updates.id"],
            name=op.f("fk_status_outbound_update_id_status_updates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_outbound")),
    )
    op.create_index(op.f("ix_status_outbound_subscriber_id"), "status_outbound", ["subscriber_id"])
    op.create_index(op.f("ix_status_outbound_sent_at"), "status_outbound", ["sent_at"])
    if op.get_bind().dialect.name == "postgresql":
        kind = "payload->>'kind'"
        subscriber = "(payload->>'subscriber_id')::bigint"
        update = "(payload->>'update_id')::bigint"
    else:
        kind = "json_extract(payload, '$.kind')"
        subscriber = "json_extract(payload, '$.subscriber_id')"
        update = "json_extract(payload, '$.update_id')"
    pending = "channel = 'status_email' AND status = 'pending'"
    op.execute(
        "INSERT INTO status_outbound (kind, subscriber_id, update_id, created_at) "  # noqa: S608
        f"SELECT CASE WHEN {kind} = 'confirm' THEN 'subscription_confirmation' "
        f"ELSE 'status_update' END, {subscriber}, {update}, created_at "
        f"FROM deliveries WHERE {pending} "
        f"AND EXISTS (SELECT 1 FROM status_subscribers s WHERE s.id = {subscriber}) "
        f"AND ({update} IS NULL "
        f"OR EXISTS (SELECT 1 FROM status_updates u WHERE u.id = {update}))"
    )
    op.execute(f"DELETE FROM deliveries WHERE {pending}")  # noqa: S608
