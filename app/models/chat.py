"""Ticket chat: messages, their audit trail, read state and pending write-backs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.clock import utcnow
from app.models.base import Base, BigId, IdMixin, Json


class ChatMessage(IdMixin, Base):
    """One message in a ticket's conversation; ids increase in commit order per ticket."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        # A retried send (same author, same client_msg_id) finds the first one.
        UniqueConstraint("author_user_id", "client_msg_id"),
        Index("ix_chat_messages_ticket_id_id", "ticket_id", "id"),
        # One number per change, across all tickets (given under the chat write lock).
        # Changes are numbered per ticket (under that ticket's write lock).
        Index("ix_chat_messages_ticket_id_revision", "ticket_id", "revision", unique=True),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    # SET NULL: removing a user must not erase what they said on other people's tickets.
    author_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)  # Markdown source; rendered on the way out
    visibility: Mapped[str] = mapped_column(String(20))  # public | internal
    client_msg_id: Mapped[str] = mapped_column(String(100))
    mentions: Mapped[list[int]] = mapped_column(Json, default=list)
    external_comment_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # The files it carries as clients see them ({id, filename, size, content_type}), copied
    # from the attachment rows when posted so reading a conversation needs no join; the
    # rows (app/models/attachment.py) decide who may download them.
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Edits and deletions in commit order, so a client resuming a conversation gets the
    # changes it missed (app/chat/history.py): `revision` numbers the message's latest
    # change (increasing across all tickets; NULL until it first changes) and
    # `changed_after_id` is the ticket's latest message id when that change was made.
    revision: Mapped[int | None] = mapped_column(BigInteger, default=None)
    changed_after_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # When the policy decided who hears about it (the notifier sets it; NULL: not yet).
    notified_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class ChatMessageAudit(IdMixin, Base):
    """The body a message had before an edit or a deletion, who changed it and when."""

    __tablename__ = "chat_message_audit"

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("chat_messages.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))  # edit | delete
    old_body: Mapped[str] = mapped_column(Text)
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatReadState(IdMixin, Base):
    """How far one user has read one ticket's conversation."""

    __tablename__ = "chat_read_states"
    __table_args__ = (UniqueConstraint("user_id", "ticket_id"),)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    last_read_message_id: Mapped[int] = mapped_column(BigId)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatWriteback(IdMixin, Base):
    """A message waiting to be (or already) written to the ticket through its connector.

    Written in the message's transaction, so an accepted message is never forgotten; the
    write-back worker retries it with backoff until it is `done` or `skipped`.
    """

    __tablename__ = "chat_writebacks"
    __table_args__ = (
        Index("ix_chat_writebacks_state_next_attempt_at", "state", "next_attempt_at"),
    )

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("chat_messages.id", ondelete="CASCADE"), unique=True
    )
    connector_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    visibility: Mapped[str] = mapped_column(String(20))  # public comment | internal note
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    skipped_reason: Mapped[str | None] = mapped_column(Text, default=None)
    external_comment_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
