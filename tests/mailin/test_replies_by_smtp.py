"""A reply to a ticket mail, through a real SMTP conversation, becomes a chat message.

The ticket mail comes out of the real relay (and a real SMTP server, aiosmtpd); the reply
goes into Socialdesk's own SMTP listener with aiosmtplib, as a mail server would forward it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.mailin.addresses import ReplyAddresses
from app.mailin.intake import MailIntake
from app.mailin.smtp import start_listener
from app.models import ChatMessage, Role, Ticket, User
from app.realtime.bus import MemoryBus
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_ticket, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import decision, enqueue, make_relay, ticket_event

DOMAIN = "reply.desk.example"
REPLIES = ReplyAddresses([TEST_SECRET_KEY], domain=DOMAIN, ttl=timedelta(days=90))
QUOTE = "\n\nOn Mon, Dec 7, 2026 at 10:00 Socialdesk <notifications@desk.example> wrote:\n> {}\n"


@dataclass
class Desk:
    db: async_sessionmaker[AsyncSession]
    bus: MemoryBus
    port: int
    erin: User
    agent: User
    ticket: Ticket

    async def ticket_mail(self, user: User, *, internal: bool = False) -> EmailMessage:
        """What `user` gets from the relay about the ticket: a status change or a note."""
        sink = SmtpSink()
        url = await sink.start()
        try:
            if internal:
                event = ticket_event(
                    self.ticket, type="ticket.commented", visibility="internal", body="Logs?"
                )
                made = decision(
                    event, f"user:{user.id}", "email", body_variant="internal", audience="agents"
                )
            else:
                event = ticket_event(self.ticket)
                made = decision(event, f"user:{user.id}", "email", audience="requester")
            async with self.db() as session:
                await enqueue(session, event, [made], self.ticket)
            assert await make_relay(self.db, smtp_url=url, replies=REPLIES).drain() == 1
        finally:
            await sink.stop()
        (mail,) = sink.messages
        return mail

    async def reply(
        self,
        to: str,
        body: str,
        *,
        sender: str | None = None,
        message_id: str = "<reply-1@example.net>",
        **headers: str,
    ) -> None:
        mail = EmailMessage()
        mail["From"] = sender or self.erin.email
        mail["To"] = to
        mail["Subject"] = "Re: your ticket"
        mail["Message-ID"] = message_id
        for name, value in headers.items():
            mail[name.replace("_", "-")] = value
        mail.set_content(body)
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=self.port)

    async def messages(self) -> list[ChatMessage]:
        async with self.db() as session:
            stmt = select(ChatMessage).where(ChatMessage.ticket_id == self.ticket.id)
            return list((await session.execute(stmt.order_by(ChatMessage.id))).scalars())


@pytest.fixture
async def desk(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[Desk]:
    async with db() as session:
        erin, _ = await create_user(session, name="Erin Employee")
        agent, _ = await create_user(session, role=Role.AGENT, name="Ada Agent")
        ticket = await create_ticket(session, requester=erin)
        await session.commit()
    bus = MemoryBus()
    intake = MailIntake(db, bus, REPLIES, max_bytes=200_000)
    server = await start_listener(intake, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield Desk(db, bus, port, erin, agent, ticket)
    server.close()
    await server.wait_closed()


async def test_a_requester_answers_the_mail_and_the_agent_sees_it_live(desk: Desk) -> None:
    mail = await desk.ticket_mail(desk.erin)
    reply_to = str(mail["Reply-To"])
    assert REPLIES.verify(reply_to, now=desk.ticket.opened_at + timedelta(hours=1)).public
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Reply to this e-mail to answer on the ticket" in text.get_content()

    async with desk.bus.subscribe(f"ticket:{desk.ticket.id}") as live:
        await desk.reply(reply_to, "Restarting fixed it, thank you!" + QUOTE.format("Status"))
        envelope = await asyncio.wait_for(anext(live), timeout=5)

    (message,) = await desk.messages()
    assert message.author_user_id == desk.erin.id
    assert message.body == "Restarting fixed it, thank you!"  # no quote, no signature
    assert message.visibility == "public"
    assert "Restarting fixed it" in str(envelope)


async def test_the_same_mail_delivered_twice_is_stored_once(desk: Desk) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    await desk.reply(reply_to, "Once only, please.")
    await desk.reply(reply_to, "Once only, please.")
    assert [m.body for m in await desk.messages()] == ["Once only, please."]


async def test_staff_replies_are_internal_unless_the_mail_was_public(desk: Desk) -> None:
    internal = str((await desk.ticket_mail(desk.agent, internal=True))["Reply-To"])
    public = str((await desk.ticket_mail(desk.agent))["Reply-To"])
    await desk.reply(internal, "Looks like the cert expired.", sender=desk.agent.email)
    await desk.reply(
        public, "We renewed it, please retry.", sender=desk.agent.email, message_id="<r2@x>"
    )
    got = {m.body: m.visibility for m in await desk.messages()}
    assert got == {
        "Looks like the cert expired.": "internal",
        "We renewed it, please retry.": "public",
    }


async def test_a_forwarded_mail_from_someone_else_is_dropped(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    await desk.reply(reply_to, "I am not Erin.", sender="mallory@example.org")
    assert await desk.messages() == []
    assert "refused: sent by mallory@example.org, not by the recipient" in caplog.text


@pytest.mark.parametrize(
    "headers",
    [{"Auto_Submitted": "auto-replied"}, {"Precedence": "bulk"}],
    ids=["out of office", "bulk"],
)
async def test_auto_replies_are_dropped_and_answered_by_nothing(
    desk: Desk, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    await desk.reply(reply_to, "I am out of the office.", **headers)
    assert await desk.messages() == []
    assert "refused: not written by a person" in caplog.text


async def test_an_address_moved_to_another_ticket_is_dropped(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    local, _, domain = reply_to.partition("@")
    moved = local.replace(f"reply+{desk.ticket.id}-", f"reply+{desk.ticket.id + 1}-") + "@" + domain
    await desk.reply(moved, "Let me into another ticket.")
    assert await desk.messages() == []
    assert "refused: forged or altered reply address" in caplog.text


async def test_mail_for_anyone_else_is_refused_at_rcpt(desk: Desk) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await desk.reply("root@" + DOMAIN, "relay me")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await desk.reply("someone@example.org", "relay me")


async def test_a_mail_over_the_size_limit_is_refused(desk: Desk) -> None:
    reply_to = str((await desk.ticket_mail(desk.erin))["Reply-To"])
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await desk.reply(reply_to, "x" * 300_000)
    assert refused.value.code == 552
    assert await desk.messages() == []
