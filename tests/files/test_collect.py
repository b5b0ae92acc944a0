"""The sweeper removes what no message keeps, blob last, and two of them never collide."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.service import NewMessage, do_delete_message, do_post_message
from app.db import unit_of_work
from app.files.collect import collect_attachments
from app.files.keys import blob_key
from app.files.service import do_store
from app.files.store import BlobStore, LocalBlobStore
from app.kit.clock import utcnow
from app.models import Attachment, Role, Ticket, User
from app.realtime.bus import MemoryBus
from tests.factories import create_ticket, create_user
from tests.files.support import PDF, PNG


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return LocalBlobStore(tmp_path / "files")


async def _setup(db: async_sessionmaker[AsyncSession]) -> tuple[User, User, Ticket]:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT)
        requester, _ = await create_user(session)
        ticket = await create_ticket(session, requester=requester)
    return agent, requester, ticket


async def _store(
    db: async_sessionmaker[AsyncSession], store: BlobStore, user: User, ticket: Ticket, data: bytes
) -> int:
    async with unit_of_work(db) as session:
        row = await do_store(
            session, store, uploader_id=user.id, ticket_id=ticket.id, filename="f",
            data=data, content_type="image/png",
        )  # fmt: skip
        return row.id


async def _age(db: async_sessionmaker[AsyncSession], attachment_id: int, days: int) -> None:
    async with unit_of_work(db) as session:
        await session.execute(
            update(Attachment)
            .where(Attachment.id == attachment_id)
            .values(created_at=utcnow() - timedelta(days=days))
        )


async def _remaining(db: async_sessionmaker[AsyncSession]) -> set[int]:
    async with db() as session:
        return set((await session.execute(select(Attachment.id))).scalars())


async def test_a_deleted_messages_files_and_old_uploads_go_fresh_and_kept_ones_stay(
    committed_db: async_sessionmaker[AsyncSession], store: BlobStore
) -> None:
    agent, requester, ticket = await _setup(committed_db)
    bus = MemoryBus()
    on_deleted = await _store(committed_db, store, requester, ticket, PDF)
    kept = await _store(committed_db, store, requester, ticket, PNG)
    # The same content uploaded by the agent: one blob, two rows.
    same_blob_forgotten = await _store(committed_db, store, agent, ticket, PNG)
    fresh = await _store(committed_db, store, agent, ticket, b"fresh log\n")
    async with unit_of_work(committed_db) as session:
        doomed = await do_post_message(
            session, NewMessage(requester, ticket.id, "oops", "public", "d", (on_deleted,)), bus=bus
        )
        await do_post_message(
            session, NewMessage(requester, ticket.id, "keep", "public", "k", (kept,)), bus=bus
        )
    assert doomed.message is not None
    async with unit_of_work(committed_db) as session:
        await do_delete_message(session, user=requester, message_id=doomed.message.id, bus=bus)
    await _age(committed_db, same_blob_forgotten, days=2)
    await _age(committed_db, kept, days=2)  # old, but on a message

    assert await collect_attachments(committed_db, store) == 2
    assert await _remaining(committed_db) == {kept, fresh}
    assert not await store.exists(blob_key(PDF))  # nobody names it any more
    assert await store.exists(blob_key(PNG))  # the kept message still does
    assert await store.exists(blob_key(b"fresh log\n"))
    assert await collect_attachments(committed_db, store) == 0


async def test_two_sweepers_claim_each_row_once(
    committed_db: async_sessionmaker[AsyncSession], store: BlobStore
) -> None:
    _, requester, ticket = await _setup(committed_db)
    ids = [
        await _store(committed_db, store, requester, ticket, f"upload {i}\n".encode())
        for i in range(30)
    ]
    for attachment_id in ids:
        await _age(committed_db, attachment_id, days=2)
    counts = await asyncio.gather(
        *(collect_attachments(committed_db, store, limit=7) for _ in range(2))
    )
    while sum(counts) < len(ids):
        got = await asyncio.gather(
            *(collect_attachments(committed_db, store, limit=7) for _ in range(2))
        )
        assert sum(got) > 0
        counts += got
    assert sum(counts) == len(ids)  # no row twice, none missed
    assert await _remaining(committed_db) == set()
    for i in range(30):
        assert not await store.exists(blob_key(f"upload {i}\n".encode()))
