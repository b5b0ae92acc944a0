"""Internal content must never leave through a channel for someone who may not read it.

Each case hands the outbox a hostile decision (as a wrong or malicious policy could) and
proves the egress guard stops it: nothing reaches the SMTP server, the webhook or Apprise
endpoint, or the inbox, and the delivery is a dead letter that says why.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Delivery, InboxItem, Role, Ticket, User
from app.notifications.channels.apprise_urls import AppriseChannel
from app.notifications.channels.email import EmailChannel
from app.notifications.channels.in_app import InAppChannel
from app.notifications.channels.webhook import WebhookChannel
from app.notifications.content import OutboundMessage, Section, Target
from app.policy.engine.document import Channel
from app.policy.engine.evaluator import PolicyEvent
from app.policy.guard.egress import InternalContentLeak
from app.realtime.bus import MemoryBus
from tests.factories import create_ticket, create_user
from tests.notifications.receivers import HttpReceiver, SmtpSink
from tests.notifications.support import (
    BASE_URL,
    WEBHOOK_SECRET,
    add_destination,
    decision,
    enqueue,
    make_relay,
    ticket_event,
)

CHANNELS: list[Channel] = ["in_app", "email", "webhook", "apprise"]
SECRET_TEXT = "INTERNAL: root password on db-7 is on the wiki"


async def _setup(
    session: AsyncSession, user: User, channel: Channel, url: str, *, internal: bool = False
) -> None:
    if channel == "webhook":
        await add_destination(session, user.id, "webhook", url, secret=WEBHOOK_SECRET,
                              internal=internal)  # fmt: skip
    elif channel == "apprise":
        host = url.removeprefix("http://")
        await add_destination(session, user.id, "apprise", f"json://{host}/chat", internal=internal)


async def _nothing_left_the_service(
    session: AsyncSession, sink: SmtpSink, server: HttpReceiver
) -> None:
    assert sink.messages == []
    assert server.requests == []
    assert (await session.execute(select(InboxItem))).scalars().all() == []


async def _dead_reason(session: AsyncSession) -> str:
    (row,) = (await session.execute(select(Delivery))).scalars().all()
    await session.refresh(row)
    assert row.status == "dead"
    return row.last_error or ""


async def _send(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    event: PolicyEvent,
    key: str,
    channel: Channel,
    ticket: Ticket,
    smtp_url: str,
    *,
    body_variant: str = "public",
) -> None:
    hostile = decision(event, key, channel, body_variant=body_variant)  # type: ignore[arg-type]
    await enqueue(session, event, [hostile], ticket)
    # The loopback receiver is reachable: only the egress guard stands in the way.
    await make_relay(db, smtp_url=smtp_url, allow_private_destinations=True).drain()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("variant", ["public", "internal"])
async def test_an_internal_note_never_reaches_an_end_user(
    channel: Channel,
    variant: str,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    (sink, smtp_url), (server, url) = smtp_sink, receiver
    erin, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin)
    await _setup(session, erin, channel, url)
    event = ticket_event(ticket, type="ticket.commented", visibility="internal", body=SECRET_TEXT)
    await _send(db, session, event, f"user:{erin.id}", channel, ticket, smtp_url,
                body_variant=variant)  # fmt: skip
    await _nothing_left_the_service(session, sink, server)
    assert "internal content would reach a end_user recipient" in await _dead_reason(session)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_internal_status_update_never_reaches_an_end_user(
    channel: Channel,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    (sink, smtp_url), (server, url) = smtp_sink, receiver
    erin, _ = await create_user(session)
    await _setup(session, erin, channel, url)
    event = PolicyEvent(
        key="status:1", type="status.update", visibility="internal",
        occurred_at=datetime.now(UTC), body=SECRET_TEXT, public_body="All good", audience=None,
    )  # fmt: skip
    hostile = decision(event, f"user:{erin.id}", channel, body_variant="internal")
    from app.outbox.enqueue import enqueue_deliveries

    await enqueue_deliveries(session, event, [hostile])
    await session.commit()
    await make_relay(db, smtp_url=smtp_url, allow_private_destinations=True).drain()
    await _nothing_left_the_service(session, sink, server)
    assert "internal content" in await _dead_reason(session)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_ticket_the_recipient_may_not_see_stays_unseen(
    channel: Channel,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    (sink, smtp_url), (server, url) = smtp_sink, receiver
    erin, _ = await create_user(session)
    sam, _ = await create_user(session)
    theirs = await create_ticket(session, requester=sam, title="Sam's salary question")
    await _setup(session, erin, channel, url)
    event = ticket_event(theirs, type="ticket.commented", body="public reply")
    await _send(db, session, event, f"user:{erin.id}", channel, theirs, smtp_url)
    await _nothing_left_the_service(session, sink, server)
    assert "may not see this ticket" in await _dead_reason(session)


@pytest.mark.parametrize("channel", ["webhook", "apprise"])
async def test_an_agents_unmarked_destination_gets_no_internal_content(
    channel: Channel,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    (sink, smtp_url), (server, url) = smtp_sink, receiver
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    await _setup(session, agent, channel, url, internal=False)
    event = ticket_event(ticket, type="ticket.commented", visibility="internal", body=SECRET_TEXT)
    await _send(db, session, event, f"user:{agent.id}", channel, ticket, smtp_url,
                body_variant="internal")  # fmt: skip
    await _nothing_left_the_service(session, sink, server)
    assert "not marked internal" in await _dead_reason(session)


@pytest.mark.parametrize("channel", ["webhook", "apprise"])
async def test_an_end_user_cannot_make_a_destination_internal_by_flag_alone(
    channel: Channel,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    (sink, smtp_url), (server, url) = smtp_sink, receiver
    erin, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin)
    await _setup(session, erin, channel, url, internal=True)  # a flag set behind the API's back
    event = ticket_event(ticket, type="ticket.commented", visibility="internal", body=SECRET_TEXT)
    await _send(db, session, event, f"user:{erin.id}", channel, ticket, smtp_url,
                body_variant="internal")  # fmt: skip
    await _nothing_left_the_service(session, sink, server)


@pytest.mark.parametrize("channel", ["webhook", "apprise"])
async def test_control_an_agents_internal_destination_does_get_it(
    channel: Channel,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    (_, smtp_url), (server, url) = smtp_sink, receiver
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    await _setup(session, agent, channel, url, internal=True)
    event = ticket_event(ticket, type="ticket.commented", visibility="internal", body=SECRET_TEXT)
    await _send(db, session, event, f"user:{agent.id}", channel, ticket, smtp_url,
                body_variant="internal")  # fmt: skip
    assert len(server.requests) == 1
    assert SECRET_TEXT.split(":")[1].strip()[:10] in server.requests[0].body.decode()


def _lying_message(channel: str, target: Target | None) -> OutboundMessage:
    """A message whose facts lie (an 'internal' destination for an end user)."""
    section = Section(
        event_type="ticket.commented", heading="Internal note", text=SECRET_TEXT,
        occurred_at=datetime.now(UTC), visibility="internal", audience="agents",
        may_see_ticket=True,
    )  # fmt: skip
    return OutboundMessage(
        delivery_id=1, idempotency_key="k", channel=channel, user_id=1,
        recipient_role="end_user", recipient_name="Erin", recipient_email="erin@example.net",
        destination_internal=True, subject="x", sections=(section,), target=target,
    )  # fmt: skip


async def test_every_channel_refuses_at_its_own_door(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    receiver: tuple[HttpReceiver, str],
) -> None:
    """Called directly, bypassing compose: each channel's own guard still raises."""
    (sink, smtp_url), (server, url) = smtp_sink, receiver
    host = url.removeprefix("http://")
    async with httpx.AsyncClient() as http:
        cases = [
            (InAppChannel(db, MemoryBus()), None),
            (EmailChannel(smtp_url, base_url=BASE_URL), None),
            (WebhookChannel(http, allow_private=True), Target(1, url, WEBHOOK_SECRET, True)),
            (AppriseChannel(allow_private=True), Target(2, f"json://{host}/x", None, True)),
        ]
        for channel, target in cases:
            with pytest.raises(InternalContentLeak):
                await channel.send(_lying_message(channel.key, target))
            (outcome,) = await channel.send_many([_lying_message(channel.key, target)])
            assert isinstance(outcome, InternalContentLeak)
    await _nothing_left_the_service(session, sink, server)


async def test_a_digest_drops_the_internal_item_and_delivers_the_rest(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    erin, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin)
    due = datetime.now(UTC)
    public = ticket_event(ticket, type="ticket.commented", body="We are on it")
    internal = ticket_event(ticket, type="ticket.commented", visibility="internal",
                            body=SECRET_TEXT)  # fmt: skip
    for event in (public, internal):
        chosen = decision(event, f"user:{erin.id}", "email", outcome="digest", deliver_at=due)
        await enqueue(session, event, [chosen], ticket)
    await make_relay(db, smtp_url=smtp_url).drain()

    (mail,) = sink.messages
    assert "We are on it" in mail.as_string()
    assert "root password" not in mail.as_string()
    statuses = {
        row.event_key: row.status for row in (await session.execute(select(Delivery))).scalars()
    }
    assert statuses[internal.key] == "dead"
    assert statuses[public.key] == "merged"
