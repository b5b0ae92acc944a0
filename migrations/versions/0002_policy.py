"""policy: versions, decisions, approval requests, their audit, approvers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _ref(name: str, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
        nullable=False,
    )


def _user_fk(table: str, column: str, ondelete: str = "SET NULL") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete=ondelete
    )


def upgrade() -> None:
    _create_versions()
    _create_decisions()
    _create_approvals()


def _create_versions() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        _ref("created_by_user_id"),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _user_fk("policy_versions", "created_by_user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_policy_versions_version")),
    )
    op.create_index(
        "uq_policy_versions_one_active",
        "policy_versions",
        ["is_active"],
        unique=True,
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )


def _create_decisions() -> None:
    op.create_table(
        "policy_decisions",
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("recipient_key", sa.String(length=200), nullable=False),
        _ref("recipient_user_id"),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=True),
        sa.Column("audience", sa.String(length=30), nullable=True),
        sa.Column("body_variant", sa.String(length=20), nullable=False),
        sa.Column("redaction_profile", sa.String(length=20), nullable=False),
        sa.Column("deliver_at", sa.DateTime(timezone=True), nullable=True),
        _json("reasons"),
        _json("redactions"),
        _ref("policy_version_id"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_versions.id"],
            name=op.f("fk_policy_decisions_policy_version_id_policy_versions"),
            ondelete="SET NULL",
        ),
        _user_fk("policy_decisions", "recipient_user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_decisions")),
        sa.UniqueConstraint(
            "event_key",
            "recipient_key",
            "channel",
            name=op.f("uq_policy_decisions_event_key_recipient_key_channel"),
        ),
    )
    op.create_index(
        op.f("ix_policy_decisions_recipient_user_id"), "policy_decisions", ["recipient_user_id"]
    )


def _create_approvals() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        _ref("requested_by_user_id"),
        sa.Column("status", sa.String(length=20), nullable=False),
        _ref("decided_by_user_id"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _json("findings"),
        _json("rule_ids"),
        _ref("policy_version_id"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        _user_fk("approval_requests", "decided_by_user_id"),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_versions.id"],
            name=op.f("fk_approval_requests_policy_version_id_policy_versions"),
            ondelete="SET NULL",
        ),
        _user_fk("approval_requests", "requested_by_user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
        sa.UniqueConstraint("event_key", name=op.f("uq_approval_requests_event_key")),
    )
    op.create_index(op.f("ix_approval_requests_status"), "approval_requests", ["status"])

    op.create_table(
        "approval_audit",
        _ref("approval_id", nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        _ref("user_id"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approval_requests.id"],
            name=op.f("fk_approval_audit_approval_id_approval_requests"),
            ondelete="CASCADE",
        ),
        _user_fk("approval_audit", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_audit")),
    )
    op.create_index(op.f("ix_approval_audit_approval_id"), "approval_audit", ["approval_id"])

    op.create_table(
        "approvers",
        _ref("user_id", nullable=False),
        _ref("granted_by_user_id"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("approvers", "granted_by_user_id"),
        _user_fk("approvers", "user_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_approvers")),
    )


def downgrade() -> None:
    op.drop_table("approvers")
    op.drop_index(op.f("ix_approval_audit_approval_id"), table_name="approval_audit")
    op.drop_table("approval_audit")
    op.drop_index(op.f("ix_approval_requests_status"), table_name="approval_requests")
    op.drop_table("approval_requests")
    op.drop_index(op.f("ix_policy_decisions_recipient_user_id"), table_name="policy_decisions")
    op.drop_table("policy_decisions")
    op.drop_index("uq_policy_versions_one_active", table_name="policy_versions")
    op.drop_table("policy_versions")
