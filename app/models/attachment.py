"""Files attached to chat messages: one row per upload, the bytes in the blob store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin


class Attachment(IdMixin, Base):
    """An uploaded file: unattached until a message of its uploader takes it.

    Who may read it follows the message (its visibility and ticket); before that, only
    the uploader. Deleting the message discards the row (`discarded_at`); the sweeper
    (app/files/collect.py) deletes discarded rows and old unattached ones, and a blob once
    no row names its SHA-256.
    """

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_chat_message_id", "chat_message_id"),)

    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed, never the client's
    filename: Mapped[str] = mapped_column(String(255))
    # SET NULL: removing a user must not take the files of other people's tickets along.
    uploader_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    chat_message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("chat_messages.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    discarded_at: Mapped[datetime | None] = mapped_column(default=None)
