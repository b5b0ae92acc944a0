"""E-mail through a real SMTP server (aiosmtpd): parts, headers, link, unsubscribe."""

from __future__ import annotations

import re
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Role
from app.notifications.channels.email import message_id
from tests.factories import create_ticket, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import (
    BASE_URL,
    decision,
    enqueue,
    make_relay,
    statuses,
    ticket_event,
)


def _parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


class TestEmail:
    async def test_a_status_change_arrives_as_a_mail_with_both_parts_and_the_link(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        erin, _ = await create_user(session, name="Erin Employee")
        ticket = await create_ticket(session, requester=erin, title="Printer <jams> on floor 3")
        event = ticket_event(ticket, old="open", new="in_progress")
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "email")], ticket)

        assert await make_relay(db, smtp_url=url).drain() == 1

        (mail,) = sink.messages
        assert mail["To"] == f"Erin Employee <{erin.email}>"
        assert "Printer <jams> on floor 3" in mail["Subject"]
        assert "Status changed from open to in_progress" in mail["Subject"]
        text, html = _parts(mail)
        # A requester's mail links the conversation through a ticket link (no password
        # needed: app.auth.ticket_links), the same link in both parts.
        found = re.search(rf"{re.escape(BASE_URL)}/t/[A-Za-z0-9_.-]+", text)
        assert found is not None, text
        link = found[0]
        assert f'href="{link}"' in html
        assert "Printer &lt;jams&gt;" in html  # ticket text is escaped, never markup
        assert mail["Message-ID"] == message_id(
            f"{event.key}:user:{erin.id}:email", "desk.example.com"
        )
        assert mail["Auto-Submitted"] == "auto-generated"
        assert await statuses(session) == {"sent": 1}

    async def test_one_click_unsubscribe_headers_follow_rfc_8058(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "email")], ticket)
        await make_relay(db, smtp_url=url).drain()

        (mail,) = sink.messages
        header = str(mail["List-Unsubscribe"]).strip()  # folding whitespace is allowed
        assert header.startswith(f"<{BASE_URL}/unsubscribe/")
        assert header.endswith(">")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = _parts(mail)
        assert header[1:-1] in text
        assert header[1:-1] in html

    async def test_redaction_applies_to_the_mail_of_an_end_user(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin, title="VPN to 10.1.2.3 fails")
        event = ticket_event(
            ticket, type="ticket.commented", body="Restart from 10.20.30.40, password=hunter22"
        )
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "email")], ticket)
        await make_relay(db, smtp_url=url).drain()

        (mail,) = sink.messages
        text, html = _parts(mail)
        for part in (text, html, str(mail["Subject"])):
            assert "10.20.30.40" not in part
            assert "hunter22" not in part
            assert "10.1.2.3" not in part
        assert "[IP address]" in text
        assert "[secret]" in text

    async def test_staff_read_internal_notes_unredacted(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        agent, _ = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
        event = ticket_event(
            ticket, type="ticket.commented", visibility="internal", body="host 10.9.8.7 is down"
        )
        chosen = decision(
            event, f"user:{agent.id}", "email", body_variant="internal", profile="none",
            audience="assignee",
        )  # fmt: skip
        await enqueue(session, event, [chosen], ticket)
        await make_relay(db, smtp_url=url).drain()

        (mail,) = sink.messages
        text, _ = _parts(mail)
        assert "host 10.9.8.7 is down" in text
        assert "(internal)" in text

    async def test_an_unreachable_smtp_server_is_retried_later_not_lost(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "email")], ticket)

        await make_relay(db, smtp_url="smtp://127.0.0.1:9").drain()

        assert await statuses(session) == {"pending": 1}

    async def test_names_and_titles_beyond_ascii_survive_the_trip(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        smtp_sink: tuple[SmtpSink, str],
    ) -> None:
        sink, url = smtp_sink
        zoe, _ = await create_user(session, name="Zoë Ångström")
        ticket = await create_ticket(session, requester=zoe, title="Café Wi-Fi — down ☕")
        event = ticket_event(ticket, type="ticket.commented", body="Réparé, merci !")
        await enqueue(session, event, [decision(event, f"user:{zoe.id}", "email")], ticket)
        await make_relay(db, smtp_url=url).drain()

        (mail,) = sink.messages
        assert mail["To"].addresses[0].display_name == "Zoë Ångström"
        assert "Café Wi-Fi — down ☕" in str(mail["Subject"])
        text, html = _parts(mail)
        assert "Réparé, merci !" in text
        assert "Réparé, merci !" in html
