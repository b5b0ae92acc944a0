"""IT service status: services, incidents and their updates, audit, subscribers, feed tokens.

Every table is prefixed `status_`: the status domain owns them all. Enumerations are stored
as short strings and validated by the schemas (`app.status.lifecycle` lists the values).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin, Json


class Service(IdMixin, Base):
    """An IT service shown on the status page, to the audience its visibility allows."""

    __tablename__ = "status_services"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    group_name: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(20))  # internal | employees | public
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Set by an admin (audited): wins over the status derived from open incidents.
    override_status: Mapped[str | None] = mapped_column(String(30), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Incident(IdMixin, Base):
    """A status incident or a scheduled maintenance on one or more services."""

    __tablename__ = "status_incidents"
    __table_args__ = (Index("ix_status_incidents_resolved_at", "resolved_at"),)

    kind: Mapped[str] = mapped_column(String(20))  # incident | maintenance
    # Staff's title. The public and employees see `public_title` or, when unset, `title`
    # (scanned by redaction with every update addressed to them).
    title: Mapped[str] = mapped_column(String(200))
    public_title: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20))
    scheduled_start: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_end: Mapped[datetime | None] = mapped_column(default=None)
    # When it began affecting services (maintenance: when it went in progress).
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IncidentService(Base):
    """A service an incident affects, and how badly."""

    __tablename__ = "status_incident_services"

    incident_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("status_incidents.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("status_services.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    impact: Mapped[str] = mapped_column(String(30))


class StatusUpdate(IdMixin, Base):
    """One update of an incident: a draft, held, published or rejected message."""

    __tablename__ = "status_updates"
    __table_args__ = (
        Index("ix_status_updates_incident_id_id", "incident_id", "id"),
        Index("ix_status_updates_state_audience", "state", "audience"),
    )

    incident_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("status_incidents.id", ondelete="CASCADE")
    )
    author_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    audience: Mapped[str] = mapped_column(String(20))  # internal | employees | public
    body: Mapped[str] = mapped_column(Text)  # staff's text, never shown outside staff
    public_body: Mapped[str | None] = mapped_column(Text, default=None)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))  # pending | held | published | rejected
    # Redaction findings of the text the audience would read: {field, kind, start, end, label}.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    # Exactly the text that went out to the audience (None for internal updates).
    published_body: Mapped[str | None] = mapped_column(Text, default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StatusAudit(IdMixin, Base):
    """Who approved, rejected or overrode what, when and why; never updated or deleted."""

    __tablename__ = "status_audit"

    action: Mapped[str] = mapped_column(String(30))
    update_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("status_updates.id", ondelete="CASCADE"), index=True, default=None
    )
    service_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("status_services.id", ondelete="CASCADE"), index=True, default=None
    )
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentTicket(IdMixin, Base):
    """A ticket linked to an incident, and the closing comment its resolution asks for."""

    __tablename__ = "status_incident_tickets"
    __table_args__ = (UniqueConstraint("incident_id", "ticket_id"),)

    incident_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("status_incidents.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    linked_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The intent, stored when the incident is resolved; the closing-comment worker
    # (app.sync.closing) carries it out through the ticket's connector.
    closing_update_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("status_updates.id", ondelete="SET NULL"), default=None
    )
    closing_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    closing_written_at: Mapped[datetime | None] = mapped_column(default=None)
    # The worker's bookkeeping: tries, the next one, its lease, the last failure, a skip
    # (the connector cannot write public comments), the comment's id in the system.
    closing_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    closing_next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    closing_lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    closing_lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    closing_last_error: Mapped[str | None] = mapped_column(Text, default=None)
    closing_skipped_reason: Mapped[str | None] = mapped_column(Text, default=None)
    closing_external_comment_id: Mapped[str | None] = mapped_column(String(200), default=None)


class Subscriber(IdMixin, Base):
    """An external e-mail address (double opt-in) or an admin-registered webhook."""

    __tablename__ = "status_subscribers"

    kind: Mapped[str] = mapped_column(String(20))  # email | webhook
    email: Mapped[str | None] = mapped_column(String(320), unique=True, default=None)
    url: Mapped[str | None] = mapped_column(String(1000), default=None)
    # Webhooks: the signing secret, sealed with the service's SecretBox.
    secret_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    # The widest audience this destination may receive (e-mail subscribers: public).
    audience: Mapped[str] = mapped_column(String(20), default="public")
    # Services asked for but not yet confirmed (double opt-in): a list of service ids.
    pending_service_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    # Random, part of every signed link: rotating it kills the links sent before.
    token_nonce: Mapped[str] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubscriberService(Base):
    """A confirmed subscription of one subscriber to one service."""

    __tablename__ = "status_subscriber_services"

    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("status_subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("status_services.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class FeedToken(IdMixin, Base):
    """A user's personal feed token (hashed): employee-level feeds without a bearer header."""

    __tablename__ = "status_feed_tokens"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusRevision(Base):
    """One row: a counter bumped by every status change, the key of the page caches."""

    __tablename__ = "status_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
