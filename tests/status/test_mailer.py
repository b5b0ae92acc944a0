"""Double opt-in end to end: subscribe, the confirmation mail arrives over SMTP, the link
in it confirms the subscription."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Role, Subscriber
from app.status.subscribers.mailer import send_pending
from tests.factories import auth, create_user
from tests.notifications.receivers import SmtpSink

pytest_plugins = ["tests.notifications.support"]


async def test_the_confirmation_mail_arrives_and_its_link_confirms(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    _, admin = await create_user(session, role=Role.ADMIN)
    await session.commit()
    created = await client.post(
        "/api/v1/services",
        headers=auth(admin),
        json={"slug": "mail-optin", "name": "Mail", "visibility": "public"},
    )
    assert created.status_code == 201, created.text
    asked = await client.post(
        "/status/subscribe", json={"email": "reader@example.org", "services": ["mail-optin"]}
    )
    assert asked.status_code in (200, 201, 202), asked.text

    mailer_settings = settings.model_copy(
        update={"smtp_url": smtp_url, "base_url": "http://testserver"}
    )
    assert await send_pending(db, mailer_settings) == 1
    assert await send_pending(db, mailer_settings) == 0  # sent once, stamped
    [mail] = sink.messages
    assert mail["To"] == "reader@example.org"
    found = re.search(r"http://testserver(/status/subscribe/confirm/\S+)", mail.get_content())
    assert found is not None
    confirmed = await client.get(found.group(1))
    assert confirmed.status_code == 200
    async with db() as check:
        from sqlalchemy import select

        subscriber = await check.scalar(
            select(Subscriber).where(Subscriber.email == "reader@example.org")
        )
        assert subscriber is not None
        assert subscriber.confirmed_at is not None


async def test_confirmed_subscribers_get_approved_public_updates_and_nothing_internal(
    client: httpx.AsyncClient,
    session: AsyncSession,
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    smtp_sink: tuple[SmtpSink, str],
) -> None:
    sink, smtp_url = smtp_sink
    _, admin = await create_user(session, role=Role.ADMIN)
    _, author = await create_user(session, role=Role.AGENT)
    _, second = await create_user(session, role=Role.AGENT)
    await session.commit()
    await client.post(
        "/api/v1/services",
        headers=auth(admin),
        json={"slug": "vpn-mails", "name": "VPN", "visibility": "public"},
    )
    await client.post(
        "/status/subscribe", json={"email": "watcher@example.org", "services": ["vpn-mails"]}
    )
    mailer_settings = settings.model_copy(
        update={"smtp_url": smtp_url, "base_url": "http://testserver"}
    )
    await send_pending(db, mailer_settings)
    link = re.search(
        r"http://testserver(/status/subscribe/confirm/\S+)", sink.messages[0].get_content()
    )
    assert link is not None
    assert (await client.get(link.group(1))).status_code == 200

    internal = await client.post(
        "/api/v1/status/incidents",
        headers=auth(author),
        json={
            "title": "vpn-gw-02 down",
            "services": [{"service": "vpn-mails"}],
            "update": {
                "status": "investigating",
                "audience": "internal",
                "body": "vpn-gw-02 (10.0.0.2) crashed",
            },
        },
    )
    assert internal.status_code == 201, internal.text
    public = await client.post(
        "/api/v1/status/incidents",
        headers=auth(author),
        json={
            "title": "VPN outage",
            "services": [{"service": "vpn-mails"}],
            "update": {
                "status": "investigating",
                "audience": "public",
                "body": "gateway crashed",
                "public_body": "The VPN is down; we are on it.",
            },
        },
    )
    update_id = public.json()["updates"][0]["id"]
    await send_pending(db, mailer_settings)
    assert len(sink.messages) == 1  # a draft sends nothing
    approved = await client.post(
        f"/api/v1/status/updates/{update_id}/approve", headers=auth(second), json={}
    )
    assert approved.status_code == 200, approved.text
    assert await send_pending(db, mailer_settings) == 1
    mail = sink.messages[-1]
    body = mail.get_content()
    assert mail["To"] == "watcher@example.org"
    assert "The VPN is down; we are on it." in body
    assert "/status/unsubscribe/" in body
    for secret in ("vpn-gw-02", "10.0.0.2", "gateway crashed"):
        assert all(secret not in m.get_content() for m in sink.messages)
