"""identity: single sign-on, the identity audit, token expiry, ticket links for requesters

Revision ID: 0031
Revises: 0030

Four new tables, three nullable columns on web_sessions and one on api_tokens (plain ADD
COLUMN on both databases), so existing sessions are full password sessions and existing
tokens never expire.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bigid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _users_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "user_identities",
        sa.Column("user_id", _bigid(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("groups", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        _users_fk("user_identities", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_identities")),
        sa.UniqueConstraint(
            "provider", "subject", name=op.f("uq_user_identities_provider_subject")
        ),
    )
    op.create_index(op.f("ix_user_identities_user_id"), "user_identities", ["user_id"])
    op.create_table(
        "sso_logins",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=100), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier", sa.String(length=200), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_logins")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_sso_logins_key_hash")),
    )
    op.create_index(op.f("ix_sso_logins_expires_at"), "sso_logins", ["expires_at"])
    op.create_table(
        "identity_audit",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", _bigid(), nullable=True),
        sa.Column("provider", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        _users_fk("identity_audit", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_audit")),
    )
    op.create_index(op.f("ix_identity_audit_at"), "identity_audit", ["at"])
    op.create_index(op.f("ix_identity_audit_user_id"), "identity_audit", ["user_id"])
    op.add_column("web_sessions", sa.Column("sso_provider", sa.String(length=40), nullable=True))
    op.add_column("web_sessions", sa.Column("sso_id_token", sa.Text(), nullable=True))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("web_sessions", sa.Column("scope_ticket_id", _bigid(), nullable=True))
    op.create_table(
        "ticket_link_revocations",
        sa.Column("user_id", _bigid(), nullable=False),
        sa.Column("ticket_id", _bigid(), nullable=True),
        sa.Column("revoked_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        _users_fk("ticket_link_revocations", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_link_revocations")),
    )
    op.create_index(
        op.f("ix_ticket_link_revocations_user_id"), "ticket_link_revocations", ["user_id"]
    )


def downgrade() -> None:
    # ALTER TABLE DROP COLUMN (SQLite 3.35+) keeps web_sessions in place (see 0025).
    op.drop_table("ticket_link_revocations")
    op.drop_column("web_sessions", "scope_ticket_id")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("web_sessions", "sso_id_token")
    op.drop_column("web_sessions", "sso_provider")
    op.drop_table("identity_audit")
    op.drop_table("sso_logins")
    op.drop_table("user_identities")
