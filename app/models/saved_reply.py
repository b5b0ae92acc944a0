"""Saved replies: text an agent inserts into the chat composer, personal or shared."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin

TITLE_MAX_CHARS = 100
BODY_MAX_CHARS = 5_000


class SavedReply(IdMixin, Base):
    """A reply with placeholders, owned by the agent who wrote it.

    Personal replies are seen by their owner only; shared ones by all staff, and edited
    by their owner or an admin. Titles are unique per owner (personal and shared alike),
    so the picker never shows one person two replies of the same name.
    """

    __tablename__ = "saved_replies"
    __table_args__ = (
        UniqueConstraint("owner_user_id", "title"),
        Index("ix_saved_replies_shared_id", "shared", "id"),
    )

    owner_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX_CHARS))
    body: Mapped[str] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
