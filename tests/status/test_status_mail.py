"""Status e-mail subscribers through the outbox, end to end over real SMTP: the opt-in and
update mails carry a stable Message-ID and the RFC 8058 one-click headers (and the one-click
POST unsubscribes); two relays send each mail once; a recipient the server refuses holds up
nobody, is retried with backoff and ends as a dead letter an admin can retry."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.models import Delivery, DeliveryAttempt, Role, StatusUpdate, Subscriber
from app.notifications.channels.email import message_id
from app.outbox.relay import Relay, RelaySettings
from app.outbox.worker import build_relay
from app.realtime.bus import MemoryBus
from app.status import repository
from app.status.publishing import do_approve_update
from app.status.schemas import IncidentCreate, ServiceCreate
from app.status.service import do_create_incident, do_create_service
from app.status.subscribers.service import do_request_subscription
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_user
from tests.notifications.receivers import SmtpSink
from tests.status.conftest import Desk, add_service, approve, open_incident

pytest_plugins = ["tests.notifications.support"]

BASE_URL = "http://testserver"
STAFF_TEXT = "vpn-gw-02 crashed, see runbook"


def later(seconds: float) -> Callable[[], datetime]:
    return lambda: utcnow() + timedelta(seconds=seconds)


def relay_for(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    smtp_url: str,
    *,
    relay_settings: RelaySettings | None = None,
    clock: Callable[[], datetime] | None = None,
    owner: str = "test",
) -> Relay:
    relay = build_relay(
        settings.model_copy(update={"base_url": BASE_URL, "smtp_url": smtp_url}),
        sessionmaker,
        MemoryBus(),
        SecretBox(TEST_SECRET_KEY),
        httpx.AsyncClient(timeout=5),
        relay_settings=relay_settings,
    )
    relay.owner = owner
    if clock is not None:
        relay.clock = clock
    return relay


async def drain(relay: Relay) -> int:
    try:
        return await relay.drain()
    finally:
        await asyncio.gather(*(c.close() for c in relay.channels.values()))


def mails_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    """What one address received (staff get the policy's own mails of an update too)."""
    return [m for m in sink.messages if str(m["To"]) == address]


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def add_subscriber(session: AsyncSession, email: str, service_ids: Iterable[int]) -> int:
    """A confirmed e-mail subscriber of these services (as the opt-in link leaves one)."""
    subscriber = Subscriber(
        kind="email",
        email=email,
        audience="public",
        token_nonce=secrets.token_hex(16),
        confirmed_at=utcnow(),
    )
    session.add(subscriber)
    await session.flush()
    await repository.replace_subscriptions(
        session, subscriber_id=subscriber.id, service_ids=list(service_ids)
    )
    return subscriber.id


async def status_mails(session: AsyncSession) -> list[Delivery]:
    stmt = select(Delivery).where(Delivery.channel == "status_email").order_by(Delivery.id)
    rows = list((await session.scalars(stmt)).all())
    await asyncio.gather(*(session.refresh(r) for r in rows))
    return rows


def assert_list_headers(mail: EmailMessage, key: str) -> str:
    """The stable Message-ID and the RFC 2369/8058 headers; the unsubscribe path."""
    assert mail["Message-ID"] == message_id(key, "localhost")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = re.fullmatch(
        r"<http://testserver(/status/unsubscribe/\S+)>", str(mail["List-Unsubscribe"]).strip()
    )
    assert found is not None, mail["List-Unsubscribe"]
    assert found.group(1) in text_of(mail)
    return found.group(1)


async def test_opt_in_and_update_mails_carry_list_headers_and_one_click_unsubscribes(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    settings: Settings,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    await add_service(client, desk, "vpn", name="VPN")
    asked = await client.post(
        "/status/subscribe", json={"email": "reader@example.org", "services": ["vpn"]}
    )
    assert asked.status_code == 202, asked.text
    assert await drain(relay_for(settings, db, smtp_url)) == 1
    assert await drain(relay_for(settings, db, smtp_url)) == 0
    [confirmation] = sink.messages
    subscriber = await session.scalar(
        select(Subscriber).where(Subscriber.email == "reader@example.org")
    )
    assert subscriber is not None
    [row] = await status_mails(session)
    assert row.idempotency_key.startswith(f"status.subscription:{subscriber.id}:")
    assert row.idempotency_key.endswith(f":status-subscriber:{subscriber.id}:status_email")
    assert confirmation["To"] == "reader@example.org"
    assert "status@" in confirmation["From"]
    assert_list_headers(confirmation, row.idempotency_key)
    link = re.search(r"http://testserver(/status/subscribe/confirm/\S+)", text_of(confirmation))
    assert link is not None
    html = confirmation.get_body(preferencelist=("html",))
    assert html is not None
    assert f'href="http://testserver{link.group(1)}"' in str(html.get_content())
    assert (await client.get(link.group(1))).status_code == 200

    incident = await open_incident(
        client, desk, ["vpn"], body=STAFF_TEXT, public_body="The VPN is down; we are on it."
    )
    update_id = incident["updates"][0]["id"]
    await drain(relay_for(settings, db, smtp_url))
    assert len(sink.messages) == 1  # not approved yet: nothing
    assert (await approve(client, desk, update_id)).status_code == 200
    await drain(relay_for(settings, db, smtp_url))
    await drain(relay_for(settings, db, smtp_url))
    [_, update_mail] = mails_to(sink, "reader@example.org")
    key = f"status.update:{update_id}:status-subscriber:{subscriber.id}:status_email"
    leave = assert_list_headers(update_mail, key)
    assert update_mail["To"] == "reader@example.org"
    assert "The VPN is down; we are on it." in text_of(update_mail)
    # The subscriber's mails carry no staff text (staff get the policy's own mails of the
    # update with it; compare decoded bodies, since MIME encodings vary).
    assert all(STAFF_TEXT not in text_of(m) for m in mails_to(sink, "reader@example.org"))

    # What a mail client does for List-Unsubscribe-Post (RFC 8058 section 3.2).
    one_click = await client.post(
        leave,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    await session.refresh(subscriber)
    assert subscriber.unsubscribed_at is not None
    assert (await repository.subscribed_services(session, [subscriber.id]))[subscriber.id] == []
    again = await open_incident(client, desk, ["vpn"], public_body="Still down.")
    assert (await approve(client, desk, again["updates"][0]["id"])).status_code == 200
    await drain(relay_for(settings, db, smtp_url))
    assert len(mails_to(sink, "reader@example.org")) == 2  # nothing after the one-click


async def test_two_relays_send_every_status_mail_exactly_once(
    committed_db: async_sessionmaker[AsyncSession],
    settings: Settings,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    sink.delay = 0.02  # a slow server widens the window for a double send
    readers = [f"reader{n}@example.org" for n in range(12)]
    pending = [f"new{n}@example.org" for n in range(5)]
    async with unit_of_work(committed_db) as session:
        author, _ = await create_user(session, role=Role.AGENT)
        approver, _ = await create_user(session, role=Role.AGENT)
        vpn = await do_create_service(
            session, data=ServiceCreate(slug="vpn", name="VPN", visibility="public")
        )
        for email in readers:
            await add_subscriber(session, email, [vpn.id])
        for email in pending:
            await do_request_subscription(session, email=email, slugs=["vpn"])
        incident = await do_create_incident(
            session,
            data=IncidentCreate.model_validate(
                {
                    "title": "VPN down",
                    "services": [{"service": "vpn"}],
                    "update": {"body": "staff", "public_body": "Down.", "audience": "public"},
                }
            ),
            author=author,
        )
        update = await session.scalar(
            select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
        )
        assert update is not None
        await do_approve_update(session, update_id=update.id, approver=approver, reason=None)

    small = RelaySettings(batch_size=3)
    first = relay_for(settings, committed_db, smtp_url, relay_settings=small, owner="worker-a")
    second = relay_for(settings, committed_db, smtp_url, relay_settings=small, owner="worker-b")
    try:
        await asyncio.gather(first.drain(), second.drain())
        await asyncio.gather(first.drain(), second.drain())
    finally:
        for relay in (first, second):
            await asyncio.gather(*(c.close() for c in relay.channels.values()))

    ours = [m for m in sink.messages if str(m["To"]).endswith("@example.org")]
    assert sorted(str(m["To"]) for m in ours) == sorted(readers + pending)
    assert len({m["Message-ID"] for m in ours}) == 17
    async with committed_db() as session:
        rows = (
            await session.scalars(select(Delivery).where(Delivery.channel == "status_email"))
        ).all()
        assert [r.status for r in rows] == ["sent"] * 17
        ids = [r.id for r in rows]
        attempts = (
            await session.scalars(
                select(DeliveryAttempt.delivery_id).where(DeliveryAttempt.delivery_id.in_(ids))
            )
        ).all()
        assert sorted(attempts) == sorted(ids)  # one attempt each, by one of the two


async def test_a_refused_recipient_holds_up_nobody_and_ends_a_retryable_dead_letter(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    settings: Settings,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    sink.refuse["busy@example.org"] = "450 4.2.1 Mailbox busy, try again later"
    await add_service(client, desk, "vpn")
    vpn = (await repository.services_by_slugs(session, ["vpn"]))["vpn"]
    busy = await add_subscriber(session, "busy@example.org", [vpn.id])
    await add_subscriber(session, "reader@example.org", [vpn.id])
    await session.commit()
    settings_ = RelaySettings(max_attempts=3, backoff_base=timedelta(seconds=1))

    def relay(at: float = 0) -> Relay:
        return relay_for(settings, db, smtp_url, relay_settings=settings_, clock=later(at))

    first = await open_incident(client, desk, ["vpn"], public_body="VPN is down.")
    assert (await approve(client, desk, first["updates"][0]["id"])).status_code == 200
    await drain(relay())
    second = await open_incident(client, desk, ["vpn"], public_body="Wi-Fi is down too.")
    assert (await approve(client, desk, second["updates"][0]["id"])).status_code == 200
    await drain(relay())
    # The refused address was tried first each time and stopped nothing after it.
    assert len(mails_to(sink, "reader@example.org")) == 2
    assert mails_to(sink, "busy@example.org") == []
    assert sink.refused == ["busy@example.org"] * 2
    held = (
        await session.scalars(
            select(Delivery).where(Delivery.recipient_key == f"status-subscriber:{busy}")
        )
    ).all()
    await asyncio.gather(*(session.refresh(r) for r in held))
    assert [(r.status, r.attempts) for r in held] == [("pending", 1)] * 2
    assert all("450" in (r.last_error or "") for r in held)
    assert all(r.deliver_at > utcnow() for r in held)  # backing off
    await drain(relay())
    assert len(sink.refused) == 2  # not before its time
    await drain(relay(10))
    await drain(relay(30))
    assert len(sink.refused) == 6

    dead = await client.get("/api/v1/admin/deliveries?status=dead", headers=desk.admin)
    items = dead.json()["items"]
    assert [d["recipient_key"] for d in items] == [f"status-subscriber:{busy}"] * 2
    assert all(d["channel"] == "status_email" and d["attempts"] == 3 for d in items)
    detail = await client.get(f"/api/v1/admin/deliveries/{items[0]['id']}", headers=desk.admin)
    assert [a["outcome"] for a in detail.json()["attempt_log"]] == ["failed"] * 3

    sink.refuse.clear()
    retried = await client.post(
        f"/api/v1/admin/deliveries/{items[0]['id']}/retry", headers=desk.admin
    )
    assert retried.status_code == 200
    assert retried.json()["status"] == "pending"
    await drain(relay(60))
    [mail] = mails_to(sink, "busy@example.org")
    assert "VPN is down." in text_of(mail)


async def test_a_mailbox_the_server_says_does_not_exist_is_dead_at_once(
    client: httpx.AsyncClient,
    desk: Desk,
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    settings: Settings,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    sink.refuse["gone@example.org"] = "550 5.1.1 No such user"
    await add_service(client, desk, "vpn")
    await client.post("/status/subscribe", json={"email": "gone@example.org", "services": ["vpn"]})
    await drain(relay_for(settings, db, smtp_url))
    [row] = await status_mails(session)
    await session.refresh(row)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "550" in (row.last_error or "")
