"""Queries on attachment rows (the bytes are in the blob store)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Attachment, ChatMessage

# pg_advisory_xact_lock takes a bigint: the first 15 hex digits of the SHA-256 fit.
_LOCK_DIGITS = 15


async def lock_blob(session: AsyncSession, sha256: str) -> None:
    """Hold the blob's lock to the end of the transaction (upload vs. collection).

    SQLite needs none: every transaction there begins IMMEDIATE, holding the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int(sha256[:_LOCK_DIGITS], 16)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def for_posting(
    session: AsyncSession, ids: Iterable[int]
) -> dict[int, tuple[Attachment, ChatMessage | None]]:
    """The rows (and the message each is on, if any), locked until commit on PostgreSQL
    so the sweeper cannot take one between the check and the claim."""
    stmt = (
        select(Attachment, ChatMessage)
        .outerjoin(ChatMessage, ChatMessage.id == Attachment.chat_message_id)
        .where(Attachment.id.in_(set(ids)))
        .with_for_update(of=Attachment)
    )
    return {a.id: (a, m) for a, m in (await session.execute(stmt)).all()}


async def claim(session: AsyncSession, *, message_id: int, ids: Sequence[int]) -> int:
    """Attach unattached rows to a message; how many were attached."""
    result = await session.execute(
        update(Attachment)
        .where(
            Attachment.id.in_(ids),
            Attachment.chat_message_id.is_(None),
            Attachment.discarded_at.is_(None),
        )
        .values(chat_message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def discard_for_message(session: AsyncSession, message_id: int, now: datetime) -> None:
    await session.execute(
        update(Attachment)
        .where(Attachment.chat_message_id == message_id, Attachment.discarded_at.is_(None))
        .values(discarded_at=now)
        .execution_options(synchronize_session=False)
    )


async def on_message(session: AsyncSession, message_id: int) -> list[Attachment]:
    """The files a message carries (not discarded), in the order they were uploaded."""
    stmt = (
        select(Attachment)
        .where(Attachment.chat_message_id == message_id, Attachment.discarded_at.is_(None))
        .order_by(Attachment.id)
    )
    return list((await session.execute(stmt)).scalars())


async def with_message(
    session: AsyncSession, attachment_id: int
) -> tuple[Attachment, ChatMessage | None] | None:
    stmt = (
        select(Attachment, ChatMessage)
        .outerjoin(ChatMessage, ChatMessage.id == Attachment.chat_message_id)
        .where(Attachment.id == attachment_id)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def delete_collectable(
    session: AsyncSession, *, unattached_before: datetime, limit: int
) -> list[str]:
    """Delete discarded rows and unattached ones older than the cutoff; their SHA-256s.

    One conditional DELETE ... RETURNING: of two sweepers, each row goes to one of them,
    and a row attached meanwhile no longer matches.
    """
    collectable = (Attachment.discarded_at.is_not(None)) | (
        Attachment.chat_message_id.is_(None) & (Attachment.created_at < unattached_before)
    )
    picked = select(Attachment.id).where(collectable).order_by(Attachment.id).limit(limit)
    stmt = (
        delete(Attachment)
        .where(Attachment.id.in_(picked.scalar_subquery()), collectable)
        .returning(Attachment.sha256)
    )
    return list((await session.execute(stmt)).scalars())


async def is_referenced(session: AsyncSession, sha256: str) -> bool:
    """Whether any row (attached, unattached or discarded) still names the blob."""
    return bool(await session.scalar(select(exists().where(Attachment.sha256 == sha256))))
