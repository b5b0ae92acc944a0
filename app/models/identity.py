"""Single sign-on: who a person is at an identity provider, sign-ins in flight, the audit.

A person is linked to a provider account by the provider's stable subject (`sub`), never
by e-mail alone: an address can change or be reassigned, a subject cannot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class UserIdentity(IdMixin, Base):
    """One provider account of a user (a user may have several, one per provider)."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    # The provider's groups at the last sign-in: what the role was derived from.
    groups: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime] = mapped_column(default=utcnow)


class SsoLogin(IdMixin, Base):
    """A sign-in sent to the provider and not yet back: its state, nonce and PKCE verifier.

    Kept on the server (the browser holds only a random key to it, in a cookie), used once,
    and shared by all replicas, whichever one the provider's redirect reaches.
    """

    __tablename__ = "sso_logins"

    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(100))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    next_path: Mapped[str] = mapped_column(String(2000), default="/")
    expires_at: Mapped[datetime] = mapped_column(index=True)


class IdentityAudit(IdMixin, Base):
    """Sign-ins, provisioning and role changes, for the admins' audit trail."""

    __tablename__ = "identity_audit"

    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    provider: Mapped[str | None] = mapped_column(String(40), default=None)
    # signed_in | provisioned | linked | role_changed | refused | signed_out
    action: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TicketLinkRevocation(IdMixin, Base):
    """Ticket links issued to a person before `revoked_before` no longer open anything.

    For one ticket, or for all of the person's tickets (`ticket_id` None). Links are signed
    rather than stored (one per e-mail would be a row per mail), so they are revoked by the
    time they were issued.
    """

    __tablename__ = "ticket_link_revocations"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(BigId, default=None)
    revoked_before: Mapped[datetime] = mapped_column(default=utcnow)


class SamlAssertion(IdMixin, Base):
    """A SAML assertion already used to sign in, kept until it expires: replays are refused.

    The assertion's own ID is what the IdP signed, so a response copied from one browser
    and posted again (even into a fresh sign-in) is recognised.
    """

    __tablename__ = "saml_assertions"
    __table_args__ = (UniqueConstraint("provider", "assertion_id"),)

    provider: Mapped[str] = mapped_column(String(40))
    assertion_id: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)
