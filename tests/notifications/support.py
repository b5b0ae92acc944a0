"""Helpers for notification tests: events, decisions, destinations, a relay with every channel."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.ticket_links import PURPOSE as TICKET_LINK_PURPOSE
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.kit.signing import Signer
from app.mailin.addresses import ReplyAddresses
from app.metrics.surveys import PURPOSE as SURVEY_PURPOSE
from app.models import Delivery, InboxItem, NotificationDestination, Ticket
from app.notifications.channels import Channel
from app.notifications.channels.apprise_urls import AppriseChannel
from app.notifications.channels.email import EmailChannel
from app.notifications.channels.in_app import InAppChannel
from app.notifications.channels.webhook import WebhookChannel
from app.notifications.compose import UNSUBSCRIBE_PURPOSE, ComposeSettings
from app.notifications.preferences import mask_url
from app.outbox.enqueue import enqueue_deliveries
from app.outbox.relay import Relay, RelaySettings
from app.policy.engine.document import Audience, EventType, ProfileName
from app.policy.engine.document import Channel as ChannelKey
from app.policy.engine.evaluator import (
    Actor,
    BodyVariant,
    Decision,
    Outcome,
    PolicyEvent,
    Reason,
    TicketFacts,
    Visibility,
)
from app.realtime.bus import Bus, MemoryBus
from tests.conftest import TEST_SECRET_KEY
from tests.notifications.receivers import HttpReceiver, SmtpSink

BASE_URL = "https://desk.example.com"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
_keys = itertools.count(1)


def ticket_event(
    ticket: Ticket,
    *,
    type: EventType = "ticket.status_changed",
    visibility: Visibility = "public",
    old: str | None = "open",
    new: str | None = "pending",
    body: str = "",
    key: str | None = None,
    occurred_at: datetime | None = None,
) -> PolicyEvent:
    """A policy event about `ticket`, as the sync or chat domain would build it."""
    return PolicyEvent(
        key=key or f"test_event:{next(_keys)}",
        type=type,
        visibility=visibility,
        occurred_at=occurred_at or utcnow(),
        actor=Actor(user_id=None, role="system"),
        ticket=TicketFacts(
            priority=ticket.priority,
            status=ticket.status,
            service=ticket.service,
            requester_id=ticket.requester_user_id,
            followable=ticket.followable,
        ),
        old_status=old if type == "ticket.status_changed" else None,
        new_status=new if type == "ticket.status_changed" else None,
        body=body,
    )


def decision(
    event: PolicyEvent,
    recipient_key: str,
    channel: ChannelKey = "in_app",
    *,
    outcome: Outcome = "send",
    body_variant: BodyVariant = "public",
    profile: ProfileName = "standard",
    audience: Audience | None = "followers",
    deliver_at: datetime | None = None,
) -> Decision:
    """A decision built by hand (as a hostile or buggy policy could hand one over)."""
    return Decision(
        event_key=event.key, recipient_key=recipient_key, channel=channel, outcome=outcome,
        rule_id="test-rule", audience=audience, body_variant=body_variant,
        redaction_profile=profile, deliver_at=deliver_at,
        reasons=(Reason("rule", True, f"rule 'test-rule' sends {event.type} via {channel}"),),
    )  # fmt: skip


async def enqueue(
    session: AsyncSession, event: PolicyEvent, decisions: Sequence[Decision], ticket: Ticket
) -> int:
    count = await enqueue_deliveries(session, event, decisions, ticket_id=ticket.id)
    await session.commit()
    return count


async def add_destination(
    session: AsyncSession,
    user_id: int,
    kind: str,
    url: str,
    *,
    secret: str | None = None,
    internal: bool = False,
) -> NotificationDestination:
    sealed = SecretBox(TEST_SECRET_KEY).seal({"url": url, **({"secret": secret} if secret else {})})
    dest = NotificationDestination(
        user_id=user_id, kind=kind, secrets_sealed=sealed, url_masked=mask_url(kind, url),
        internal=internal, enabled=True, consecutive_failures=0, label="",
    )  # fmt: skip
    session.add(dest)
    await session.flush()
    return dest


def compose_settings(replies: ReplyAddresses | None = None) -> ComposeSettings:
    return ComposeSettings(
        base_url=BASE_URL,
        box=SecretBox(TEST_SECRET_KEY),
        unsubscribe=Signer(TEST_SECRET_KEY, UNSUBSCRIBE_PURPOSE),
        survey=Signer(TEST_SECRET_KEY, SURVEY_PURPOSE),
        replies=replies,
        ticket_links=Signer(TEST_SECRET_KEY, TICKET_LINK_PURPOSE),
    )


def make_relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    smtp_url: str | None = None,
    http: httpx.AsyncClient | None = None,
    bus: Bus | None = None,
    clock: Callable[[], datetime] = utcnow,
    settings: RelaySettings | None = None,
    allow_private_destinations: bool = False,
    replies: ReplyAddresses | None = None,
) -> Relay:
    """Every channel; webhooks and Apprise URLs reach the loopback receivers only when
    `allow_private_destinations` (the setting of that name) is on."""
    allow = allow_private_destinations
    channels: dict[str, Channel] = {
        "in_app": InAppChannel(sessionmaker, bus or MemoryBus()),
        "email": EmailChannel(smtp_url, base_url=BASE_URL),
        "webhook": WebhookChannel(http or httpx.AsyncClient(timeout=5), allow_private=allow),
        "apprise": AppriseChannel(timeout=5, allow_private=allow),
    }
    return Relay(
        sessionmaker,
        channels,
        compose_settings(replies),
        settings=settings,
        clock=clock,
        owner="test",
    )


def later(seconds: float) -> Callable[[], datetime]:
    """A clock `seconds` ahead of the real one."""
    return lambda: utcnow() + timedelta(seconds=seconds)


async def statuses(session: AsyncSession) -> dict[str, int]:
    stmt = select(Delivery.status, func.count()).group_by(Delivery.status)
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}


async def inbox_of(session: AsyncSession, user_id: int) -> list[InboxItem]:
    stmt = select(InboxItem).where(InboxItem.user_id == user_id).order_by(InboxItem.id)
    return list((await session.execute(stmt)).scalars())


@pytest.fixture
async def smtp_sink() -> AsyncIterator[tuple[SmtpSink, str]]:
    sink = SmtpSink()
    url = await sink.start()
    yield sink, url
    await sink.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[HttpReceiver, str]]:
    server = HttpReceiver()
    url = await server.start()
    yield server, url
    await server.stop()
