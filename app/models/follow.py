"""Who follows what: tickets and IT services."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class TicketFollow(IdMixin, Base):
    """A person following a ticket, or (muted) a requester who opted out of their own.

    Requesters follow their tickets without a row (resolved lazily from the ticket), so a
    requester who unfollows is recorded as a muted row.
    """

    __tablename__ = "ticket_follows"
    __table_args__ = (UniqueConstraint("ticket_id", "user_id"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    # manual (the person asked) | commented (an agent who took part in the conversation)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceFollow(IdMixin, Base):
    """A person following an IT service, by slug.

    There is no services table yet (the status domain adds it); the slug is validated for
    its format only, and this table is the service subscribers' audience until then.
    """

    __tablename__ = "service_follows"
    __table_args__ = (UniqueConstraint("service_slug", "user_id"),)

    service_slug: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
