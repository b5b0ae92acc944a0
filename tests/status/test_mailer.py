"""Double opt-in end to end: subscribe, the confirmation mail arrives over SMTP, the link
in it confirms the subscription."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Role, Subscriber
from app.status.mailer import send_pending
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
