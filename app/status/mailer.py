"""Sends the status domain's own mails (the double opt-in confirmation) over SMTP.

Rows in `status_outbound` are written in the subscription's transaction; this worker sends
them and stamps `sent_at`. A crash between the send and the stamp resends one confirmation,
which is harmless (the link is the same kind of link); nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work
from app.kit.clock import utcnow
from app.models import StatusOutbound, Subscriber
from app.notifications.channels.email import sender_domain, smtp_client
from app.status.subscribers import confirmation_message

log = logging.getLogger(__name__)
BATCH = 50


async def send_pending(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Send one batch of pending confirmation mails; how many went out."""
    if not settings.smtp_url:
        return 0
    secret = settings.require_secret_key()
    async with unit_of_work(sessionmaker) as session:
        rows = (
            await session.execute(
                select(StatusOutbound, Subscriber)
                .join(Subscriber, Subscriber.id == StatusOutbound.subscriber_id)
                .where(
                    StatusOutbound.sent_at.is_(None),
                    StatusOutbound.kind == "subscription_confirmation",
                )
                .order_by(StatusOutbound.id)
                .limit(BATCH)
            )
        ).all()
        mails = []
        for outbound, subscriber in rows:
            if subscriber.email is None or subscriber.confirmed_at is not None:
                outbound.sent_at = utcnow()  # nothing to confirm any more
                continue
            subject, text = confirmation_message(secret, settings.base_url, subscriber)
            mail = EmailMessage()
            mail["From"] = f"IT service status <status@{sender_domain(settings.base_url)}>"
            mail["To"] = subscriber.email
            mail["Subject"] = subject
            mail.set_content(text)
            mails.append((outbound.id, mail))
    sent = 0
    client = smtp_client(settings.smtp_url)
    try:
        await client.connect()
        for outbound_id, mail in mails:
            await client.send_message(mail)
            async with unit_of_work(sessionmaker) as session:
                row = await session.get(StatusOutbound, outbound_id)
                if row is not None:
                    row.sent_at = utcnow()
            sent += 1
    finally:
        with contextlib.suppress(Exception):
            await client.quit()
    return sent


class StatusMailer:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        tick: float = 2.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.tick = tick

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await send_pending(self.sessionmaker, self.settings)
            except Exception:
                log.exception("status mails failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick)
