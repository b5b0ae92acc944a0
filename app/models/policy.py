"""The communications policy: its versions, every decision it made, and held messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin, Json


class PolicyVersion(IdMixin, Base):
    """One saved policy document, kept verbatim (comments included); exactly one is active."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        # A partial unique index: any number of inactive versions, at most one active.
        Index(
            "uq_policy_versions_one_active",
            "is_active",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    version: Mapped[int] = mapped_column(Integer, unique=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    # None for the shipped default, applied by the service itself.
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyDecision(IdMixin, Base):
    """What the policy decided for one event x recipient x channel, and why."""

    __tablename__ = "policy_decisions"
    __table_args__ = (
        # Re-evaluating an event writes nothing new: the first decision stands.
        UniqueConstraint("event_key", "recipient_key", "channel"),
        # The retention pass walks the oldest decisions in (created_at, id) order.
        Index("ix_policy_decisions_created_at_id", "created_at", "id"),
    )

    event_key: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(50))
    recipient_key: Mapped[str] = mapped_column(String(200))
    recipient_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    channel: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(20))
    rule_id: Mapped[str | None] = mapped_column(String(100), default=None)
    audience: Mapped[str | None] = mapped_column(String(30), default=None)
    body_variant: Mapped[str] = mapped_column(String(20))
    redaction_profile: Mapped[str] = mapped_column(String(20))
    deliver_at: Mapped[datetime | None] = mapped_column(default=None)
    # [{kind, matched, sentence}]: the rule, every condition (true or false), timing, ...
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    # [{kind, label, start, end}]: what will be redacted, never the matched text.
    redactions: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    policy_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("policy_versions.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApprovalRequest(IdMixin, Base):
    """A held event waiting for an approver: pending, then approved or rejected."""

    __tablename__ = "approval_requests"

    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(500))
    # The author of what is held; under the two-person rule they cannot approve it.
    requested_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    decided_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    # Redaction findings ({kind, label}) that made or would make this need a human.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    rule_ids: Mapped[list[str]] = mapped_column(Json, default=list)
    policy_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("policy_versions.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    audit: Mapped[list[ApprovalAudit]] = relationship(
        lazy="raise", order_by="ApprovalAudit.id", viewonly=True
    )


class ApprovalAudit(IdMixin, Base):
    """One approve, reject or override, with who and why, or the `release` that followed an
    approval (the service's account of what went out; no user); never updated or deleted."""

    __tablename__ = "approval_audit"

    approval_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("approval_requests.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Approver(Base):
    """An agent granted the approver permission (admins have it by role)."""

    __tablename__ = "approvers"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    granted_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
