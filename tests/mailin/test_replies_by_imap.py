"""Replies read from a real mailbox (Debian's dovecot, tests/tooling/imap/start).

Each test has a folder of its own in the test mailbox; mail is put there with IMAP APPEND
(as the mail server's delivery would) and read by the poller under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.kit.clock import utcnow
from app.mailin.addresses import ReplyAddresses
from app.mailin.imap import ImapPoller, Mailbox
from app.mailin.intake import MailIntake
from app.models import ChatMessage, Ticket, User
from app.realtime.bus import MemoryBus
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_ticket, create_user

REPLIES = ReplyAddresses([TEST_SECRET_KEY], domain="reply.desk.example", ttl=timedelta(days=90))


@pytest.fixture(scope="session")
def imap_server(repo_root: Path) -> dict[str, str]:
    """The test IMAP server's env lines (the script starts it once, installing if needed)."""
    out = subprocess.run(
        [str(repo_root / "tests/tooling/imap/start")],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture
def mailbox(imap_server: dict[str, str]) -> Iterator[Mailbox]:
    folder = f"test-{uuid.uuid4().hex[:10]}"
    box = Mailbox(
        host=imap_server["IMAP_HOST"],
        port=int(imap_server["IMAP_PORT"]),
        tls=False,
        user=imap_server["IMAP_USER"],
        password=imap_server["IMAP_PASSWORD"],
        folder=folder,
    )
    with _imap(box) as conn:
        conn.create(folder)
    yield box
    with _imap(box) as conn, contextlib.suppress(imaplib.IMAP4.error):
        conn.delete(folder)


@contextlib.contextmanager
def _imap(box: Mailbox) -> Iterator[imaplib.IMAP4]:
    conn = imaplib.IMAP4(box.host, box.port)
    conn.login(box.user, box.password)
    try:
        yield conn
    finally:
        conn.logout()


def deliver(box: Mailbox, user: User, ticket: Ticket, body: str, message_id: str) -> None:
    mail = EmailMessage()
    mail["From"] = user.email
    mail["To"] = REPLIES.address(ticket_id=ticket.id, user_id=user.id, public=True, now=utcnow())
    mail["Subject"] = "Re: VPN does not connect"
    mail["Message-ID"] = message_id
    mail.set_content(body)
    with _imap(box) as conn:
        conn.append(box.folder, "", imaplib.Time2Internaldate(utcnow()), mail.as_bytes())


def seen_flags(box: Mailbox) -> list[bool]:
    with _imap(box) as conn:
        conn.select(box.folder)
        _, data = conn.fetch("1:*", "(FLAGS)")
    return [b"\\Seen" in line for line in data if isinstance(line, bytes)]


async def bodies(db: async_sessionmaker[AsyncSession], ticket: Ticket) -> list[str]:
    async with db() as session:
        stmt = select(ChatMessage.body).where(ChatMessage.ticket_id == ticket.id)
        return list((await session.execute(stmt.order_by(ChatMessage.id))).scalars())


@pytest.fixture
async def requester_ticket(db: async_sessionmaker[AsyncSession]) -> tuple[User, Ticket]:
    async with db() as session:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await session.commit()
    return erin, ticket


@pytest.fixture
async def running(
    db: async_sessionmaker[AsyncSession], mailbox: Mailbox
) -> AsyncIterator[ImapPoller]:
    """The poller, running; only IDLE can wake it (its fallback poll is 5 minutes)."""
    intake = MailIntake(db, MemoryBus(), REPLIES, max_bytes=100_000)
    poller = ImapPoller(intake, mailbox, poll_seconds=300)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    yield poller
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not stored in time")


async def test_unseen_replies_become_chat_messages_and_are_then_marked_seen(
    db: async_sessionmaker[AsyncSession], mailbox: Mailbox, requester_ticket: tuple[User, Ticket]
) -> None:
    erin, ticket = requester_ticket
    deliver(mailbox, erin, ticket, "First reply.\n\nOn Mon, X wrote:\n> quoted", "<m1@example.net>")
    deliver(mailbox, erin, ticket, "Second reply.", "<m2@example.net>")
    deliver(mailbox, erin, ticket, "Me again.", "<m1@example.net>")  # the first, twice
    assert seen_flags(mailbox) == [False, False, False]

    poller = ImapPoller(MailIntake(db, MemoryBus(), REPLIES, max_bytes=100_000), mailbox)
    client = await poller._connect()
    try:
        assert await poller.take_unseen(client) == 3
        assert await poller.take_unseen(client) == 0  # nothing is read twice
    finally:
        await client.logout()

    assert await bodies(db, ticket) == ["First reply.", "Second reply."]
    assert seen_flags(mailbox) == [True, True, True]


async def test_a_reply_arriving_while_the_poller_idles_is_taken_at_once(
    db: async_sessionmaker[AsyncSession],
    mailbox: Mailbox,
    requester_ticket: tuple[User, Ticket],
    running: ImapPoller,
) -> None:
    erin, ticket = requester_ticket
    await asyncio.sleep(1)  # the poller has taken the (empty) folder and waits in IDLE
    deliver(mailbox, erin, ticket, "Arrived during IDLE.", "<idle@example.net>")

    async def stored() -> bool:
        return await bodies(db, ticket) == ["Arrived during IDLE."]

    await _eventually(stored, seconds=10)


async def test_a_mail_that_cannot_be_stored_stays_unseen_for_the_next_pass(
    db: async_sessionmaker[AsyncSession], mailbox: Mailbox, requester_ticket: tuple[User, Ticket]
) -> None:
    erin, ticket = requester_ticket
    deliver(mailbox, erin, ticket, "Keep me.", "<keep@example.net>")

    # A database that refuses connections (nothing listens on port 9): a real outage.
    down = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/gone")
    outage = MailIntake(async_sessionmaker(down), MemoryBus(), REPLIES, max_bytes=100_000)
    poller = ImapPoller(outage, mailbox)
    client = await poller._connect()
    try:
        with pytest.raises(OSError, match=r"Connect call failed|refused"):
            await poller.take_unseen(client)
    finally:
        await client.logout()
        await down.dispose()
    assert seen_flags(mailbox) == [False]

    healthy = ImapPoller(MailIntake(db, MemoryBus(), REPLIES, max_bytes=100_000), mailbox)
    client = await healthy._connect()
    try:
        assert await healthy.take_unseen(client) == 1
    finally:
        await client.logout()
    assert await bodies(db, ticket) == ["Keep me."]
    assert seen_flags(mailbox) == [True]
