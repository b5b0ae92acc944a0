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
from app.kit.polling import poll_until_stopped
from app.models import Incident, StatusOutbound, StatusUpdate, Subscriber
from app.notifications.channels.email import sender_domain, smtp_client
from app.policy.guard.egress import guard_egress
from app.status.publishing import audience_title
from app.status.subscribers.service import confirmation_message, unsubscribe_token

log = logging.getLogger(__name__)
BATCH = 50


async def send_pending(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Send one batch of pending mails (opt-in confirmations, published updates)."""
    if not settings.smtp_url:
        return 0
    secret = settings.require_secret_key()
    async with unit_of_work(sessionmaker) as session:
        rows = (
            await session.execute(
                select(StatusOutbound, Subscriber)
                .join(Subscriber, Subscriber.id == StatusOutbound.subscriber_id)
                .where(StatusOutbound.sent_at.is_(None))
                .order_by(StatusOutbound.id)
                .limit(BATCH)
            )
        ).all()
        mails = []
        for outbound, subscriber in rows:
            message = await _message(session, secret, settings.base_url, outbound, subscriber)
            if message is None:
                outbound.sent_at = utcnow()  # nothing to send any more
                continue
            subject, text = message
            mail = EmailMessage()
            mail["From"] = f"IT service status <status@{sender_domain(settings.base_url)}>"
            mail["To"] = str(subscriber.email)
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


async def _message(
    session: AsyncSession,
    secret: str,
    base_url: str,
    outbound: StatusOutbound,
    subscriber: Subscriber,
) -> tuple[str, str] | None:
    """Subject and text, or None when the mail has become pointless."""
    if subscriber.email is None or subscriber.unsubscribed_at is not None:
        return None
    if outbound.kind == "subscription_confirmation":
        if subscriber.confirmed_at is not None:
            return None
        return confirmation_message(secret, base_url, subscriber)
    update = await session.get(StatusUpdate, outbound.update_id or 0)
    if update is None or update.state != "published" or update.audience != "public":
        return None
    incident = await session.get(Incident, update.incident_id)
    if incident is None or update.published_body is None:
        return None
    # Only the approved public text leaves, and the egress guard says so once more.
    guard_egress("public", "public", False, "public", may_see_ticket=True, channel="subscribers")
    base = base_url.rstrip("/")
    leave = f"{base}/status/unsubscribe/{unsubscribe_token(secret, subscriber)}"
    subject = f"[Status] {audience_title(incident)}: {update.to_status.replace('_', ' ')}"
    text = f"{update.published_body}\n\nStatus page: {base}/status\nStop these mails: {leave}\n"
    return subject, text


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
        async def one_pass() -> None:
            await send_pending(self.sessionmaker, self.settings)

        await poll_until_stopped(stop, one_pass, tick=self.tick, what="status mails")
