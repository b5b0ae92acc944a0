"""Write-back of files: a public message's files go to a connector that writes files; an
internal message's files, and those a system refuses, stay in Socialdesk, named."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.service import NewMessage, do_post_message
from app.chat.writeback import WritebackWorker
from app.db import unit_of_work
from app.files.service import do_store
from app.files.store import LocalBlobStore
from app.kit.secrets import SecretBox
from app.models import Attachment, ChatMessage, ChatWriteback, Role, Ticket, User
from app.realtime.bus import MemoryBus
from connectors import registry
from connectors.base import Capability, FileRefused, FileToSend, Visibility
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_connector, create_ticket, create_user
from tests.files.support import PDF, PNG
from tests.sync.scripted import ScriptedConnector


class FilesConnector(ScriptedConnector):
    """A system that takes files with public comments (as Redmine does)."""

    kind = "chat_with_files"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
            Capability.WRITE_FILES,
        }
    )
    # (body, visibility, key, [(filename, content_type, bytes)]) per call
    written: ClassVar[list[tuple[str, Visibility, str, list[tuple[str, str, bytes]]]]] = []
    too_large: ClassVar[set[str]] = set()  # file names this system refuses

    async def add_comment(
        self,
        external_id: str,
        body: str,
        visibility: Visibility,
        idempotency_key: str,
        *,
        files: Sequence[FileToSend] = (),
    ) -> str:
        refused = [f for f in files if f.filename in self.too_large]
        if refused:
            raise FileRefused("over the limit of 100 bytes", refused, 100)
        sent = [(f.filename, f.content_type, await f.read()) for f in files]
        self.written.append((body, visibility, idempotency_key, sent))
        return f"c-{idempotency_key}"


class TextOnlyConnector(ScriptedConnector):
    """A system written before files: the four-argument add_comment, no WRITE_FILES."""

    kind = "chat_text_only"
    capabilities = frozenset({Capability.READ_TICKETS, Capability.WRITE_PUBLIC_COMMENT})
    written: ClassVar[list[str]] = []

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        self.written.append(body)
        return f"t-{idempotency_key}"


@pytest.fixture(autouse=True)
def _connectors() -> Iterator[None]:
    registry.register(FilesConnector)
    registry.register(TextOnlyConnector)
    TextOnlyConnector.written.clear()
    FilesConnector.written.clear()
    FilesConnector.too_large.clear()
    yield
    FilesConnector.too_large.clear()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "files")


@pytest.fixture
async def worker(
    db: async_sessionmaker[AsyncSession], store: LocalBlobStore
) -> AsyncIterator[WritebackWorker]:
    async with httpx.AsyncClient() as http:
        yield WritebackWorker(db, SecretBox(TEST_SECRET_KEY), http, files=store)


async def _desk(db: async_sessionmaker[AsyncSession], kind: str) -> tuple[User, Ticket]:
    async with unit_of_work(db) as session:
        agent, _ = await create_user(session, role=Role.AGENT, name="Alex Files")
        instance = await create_connector(session, kind=kind)
        ticket = await create_ticket(session, connector=instance)
    return agent, ticket


async def _post_with_files(
    db: async_sessionmaker[AsyncSession],
    store: LocalBlobStore,
    agent: User,
    ticket: Ticket,
    visibility: str,
    files: Sequence[tuple[str, bytes, str]],
) -> int:
    async with unit_of_work(db) as session:
        ids = []
        for name, data, content_type in files:
            stored = await do_store(
                session, store, uploader_id=agent.id, ticket_id=ticket.id,
                filename=name, data=data, content_type=content_type,
            )  # fmt: skip
            ids.append(stored.id)
        outcome = await do_post_message(
            session,
            NewMessage(agent, ticket.id, "See attached", visibility, f"m-{visibility}", tuple(ids)),
            bus=MemoryBus(),
        )
        assert outcome.message is not None
        return outcome.message.id


async def _writeback(db: async_sessionmaker[AsyncSession], message_id: int) -> ChatWriteback:
    async with db() as session:
        stmt = select(ChatWriteback).where(ChatWriteback.message_id == message_id)
        return (await session.execute(stmt)).scalar_one()


SIGNED = "\n\n— Alex Files, via Socialdesk chat"
SHOT = ("screen.png", PNG, "image/png")
REPORT = ("report.pdf", PDF, "application/pdf")


async def test_a_public_message_sends_its_files_with_the_comment(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, store: LocalBlobStore
) -> None:
    agent, ticket = await _desk(db, "chat_with_files")
    message_id = await _post_with_files(db, store, agent, ticket, "public", [SHOT, REPORT])
    assert await worker.run_once() == 1
    [(body, visibility, key, files)] = FilesConnector.written
    assert (visibility, key) == (Visibility.PUBLIC, f"chat:{message_id}")
    # The files are attached, so the text no longer points at the Socialdesk chat.
    assert body == "See attached" + SIGNED
    assert files == [("screen.png", "image/png", PNG), ("report.pdf", "application/pdf", PDF)]
    done = await _writeback(db, message_id)
    assert (done.state, done.last_error) == ("done", None)


async def test_an_internal_message_never_sends_its_files(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, store: LocalBlobStore
) -> None:
    agent, ticket = await _desk(db, "chat_with_files")
    await _post_with_files(db, store, agent, ticket, "internal", [SHOT])
    assert await worker.run_once() == 1
    [(body, visibility, _, files)] = FilesConnector.written
    assert (visibility, files) == (Visibility.INTERNAL, [])
    assert body == ("See attached\n\nFiles in the Socialdesk chat: screen.png" + SIGNED)


async def test_a_message_whose_visibility_is_not_public_keeps_its_files(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, store: LocalBlobStore
) -> None:
    # A public write-back row of a message that is (now) not public: fail closed.
    agent, ticket = await _desk(db, "chat_with_files")
    message_id = await _post_with_files(db, store, agent, ticket, "public", [SHOT])
    plan = worker._sendable  # the guard itself, with the row as the worker reads it
    async with db() as session:
        message = await session.get(ChatMessage, message_id)
        writeback = await _writeback(db, message_id)
        assert message is not None
        message.visibility = "internal"
        assert await plan(message, writeback, "chat_with_files") is None


async def test_files_the_system_refuses_stay_in_socialdesk_named_and_recorded(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, store: LocalBlobStore
) -> None:
    agent, ticket = await _desk(db, "chat_with_files")
    FilesConnector.too_large.add("report.pdf")
    message_id = await _post_with_files(db, store, agent, ticket, "public", [SHOT, REPORT])
    assert await worker.run_once() == 1
    [(body, _, key, files)] = FilesConnector.written
    assert [f[0] for f in files] == ["screen.png"]
    assert key == f"chat:{message_id}"
    assert body == ("See attached\n\nFiles in the Socialdesk chat: report.pdf" + SIGNED)
    done = await _writeback(db, message_id)
    assert (done.state, done.attempts) == ("done", 1)
    assert done.last_error == "file_refused: over the limit of 100 bytes"
    async with unit_of_work(db) as session:
        await session.execute(update(ChatWriteback).values(state="pending"))
    assert await worker.run_once() == 1  # a rerun finds the write done under its key
    assert len(FilesConnector.written) == 1


async def test_a_file_missing_from_the_store_is_named_not_sent(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, store: LocalBlobStore
) -> None:
    agent, ticket = await _desk(db, "chat_with_files")
    await _post_with_files(db, store, agent, ticket, "public", [SHOT, REPORT])
    await store.delete(hashlib.sha256(PDF).hexdigest())
    assert await worker.run_once() == 1
    [(body, _, _, files)] = FilesConnector.written
    assert [f[0] for f in files] == ["screen.png"]
    assert "Files in the Socialdesk chat: report.pdf" in body


async def test_a_connector_without_files_is_called_as_before_and_the_text_names_them(
    db: async_sessionmaker[AsyncSession], worker: WritebackWorker, store: LocalBlobStore
) -> None:
    agent, ticket = await _desk(db, "chat_text_only")
    message_id = await _post_with_files(db, store, agent, ticket, "public", [SHOT])
    assert await worker.run_once() == 1
    assert (await _writeback(db, message_id)).state == "done"  # no TypeError: no files=
    assert TextOnlyConnector.written == [
        "See attached\n\nFiles in the Socialdesk chat: screen.png" + SIGNED
    ]


async def test_a_worker_without_a_store_names_the_files(
    db: async_sessionmaker[AsyncSession], store: LocalBlobStore
) -> None:
    agent, ticket = await _desk(db, "chat_with_files")
    await _post_with_files(db, store, agent, ticket, "public", [SHOT])
    async with httpx.AsyncClient() as http:
        assert await WritebackWorker(db, SecretBox(TEST_SECRET_KEY), http).run_once() == 1
    [(body, _, _, files)] = FilesConnector.written
    assert files == []
    assert "Files in the Socialdesk chat: screen.png" in body
    async with db() as session:
        assert len((await session.execute(select(Attachment))).scalars().all()) == 1
