"""Files attached to a reply by e-mail (a real SMTP conversation) go with its chat message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.files.keys import blob_key
from app.files.store import LocalBlobStore
from app.mailin.intake import MailIntake
from app.mailin.service import MailFiles
from app.mailin.smtp import start_listener
from app.models import Attachment, ChatMessage
from app.realtime.bus import MemoryBus
from tests.factories import create_ticket, create_user
from tests.files.support import EXE, PDF, PNG
from tests.mailin.test_replies_by_smtp import QUOTE, REPLIES, Desk


@pytest.fixture
async def desk(db: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[Desk]:
    async with db() as session:
        erin, _ = await create_user(session, name="Erin Files")
        agent, _ = await create_user(session, name="Ada Files")
        ticket = await create_ticket(session, requester=erin)
        await session.commit()
    bus = MemoryBus()
    files = MailFiles(LocalBlobStore(tmp_path / "files"), max_bytes=1000, per_message=2)
    intake = MailIntake(db, bus, REPLIES, max_bytes=200_000, files=files)
    server = await start_listener(intake, "127.0.0.1", 0)
    yield Desk(db, bus, server.sockets[0].getsockname()[1], erin, agent, ticket)
    server.close()
    await server.wait_closed()


async def _send(desk: Desk, to: str, text: str, files: list[tuple[str, bytes, str]]) -> None:
    mail = EmailMessage()
    mail["From"] = desk.erin.email
    mail["To"] = to
    mail["Subject"] = "Re: your ticket"
    mail["Message-ID"] = "<files-1@example.net>"
    mail.set_content(text)
    for name, data, kind in files:
        maintype, subtype = kind.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=desk.port)


async def test_allowed_files_are_attached_and_the_others_are_named_in_the_message(
    desk: Desk, tmp_path: Path
) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    await _send(
        desk,
        reply_to,
        "Here is the screenshot and the log." + QUOTE.format("Status"),
        [
            ("screen.png", PNG, "image/png"),
            ("setup.exe", EXE, "application/octet-stream"),
            ("huge.pdf", PDF + b" " * 2000, "application/pdf"),
            ("log.txt", b"error 42 at start\n", "text/plain"),
            ("third.pdf", PDF, "application/pdf"),
        ],
    )
    (message,) = await desk.messages()
    assert message.body.startswith("Here is the screenshot and the log.")
    assert "not attached: setup.exe: this kind of file cannot be attached" in message.body
    assert "not attached: huge.pdf: the file is larger than 1000 bytes" in message.body
    assert "not attached: third.pdf: at most 2 files a message" in message.body
    assert [(a["filename"], a["content_type"]) for a in message.attachments or []] == [
        ("screen.png", "image/png"),
        ("log.txt", "text/plain; charset=utf-8"),
    ]
    async with desk.db() as session:
        rows = (
            await session.execute(
                select(Attachment).where(Attachment.chat_message_id == message.id)
            )
        ).scalars()
        assert {(r.filename, r.uploader_user_id) for r in rows} == {
            ("screen.png", desk.erin.id),
            ("log.txt", desk.erin.id),
        }
    assert (tmp_path / "files" / blob_key(PNG)[:2] / blob_key(PNG)[2:4] / blob_key(PNG)).exists()
    assert await LocalBlobStore(tmp_path / "files").get(blob_key(PNG)) == PNG


async def test_a_reply_with_only_a_file_is_a_message_naming_it(desk: Desk) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    await _send(desk, reply_to, "", [("screen.png", PNG, "image/png")])
    (message,) = await desk.messages()
    assert message.body == "📎 screen.png"
    assert [a["filename"] for a in message.attachments or []] == ["screen.png"]


async def test_the_same_mail_twice_is_one_message_with_its_files_once(desk: Desk) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    for _ in range(2):
        await _send(desk, reply_to, "twice", [("screen.png", PNG, "image/png")])
    (message,) = await desk.messages()
    async with desk.db() as session:
        on_message = await session.scalar(
            select(ChatMessage.attachments).where(ChatMessage.id == message.id)
        )
        rows = (await session.execute(select(Attachment))).scalars().all()
    assert [a["filename"] for a in on_message or []] == ["screen.png"]
    assert [r.chat_message_id for r in rows] == [message.id]  # no second, unattached copy
