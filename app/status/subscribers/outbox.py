"""E-mail subscribers' mails are outbox rows on the `status_email` channel.

Written in the transaction that asks for them (a subscription request, a publication), so
they commit or roll back with it; the relay's e-mail lane sends them with the same leases,
retries with backoff, dead letters, admin retry and stable Message-ID as every other mail.
Rows carry ids only; `app.status.subscribers.mails` composes the text at send time.

Keys (unique in the outbox, so a replay or a second worker never makes a second row):

- an update: `status.update:<update>:status-subscriber:<subscriber>:status_email`;
- a confirmation: `status.subscription:<subscriber>:<request>:status-subscriber:<subscriber>:
  status_email`, where `<request>` is new for each request (someone who lost the first mail
  asks again and gets another one).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from app.outbox.enqueue import Addressed, enqueue_addressed

CHANNEL = "status_email"
CONFIRM = "confirm"
UPDATE = "update"


def recipient_key(subscriber_id: int) -> str:
    return f"status-subscriber:{subscriber_id}"


def update_mail(subscriber_id: int, update_id: int) -> Addressed:
    """The outbox row of one published update for one e-mail subscriber."""
    return Addressed(
        event_key=f"status.update:{update_id}",
        recipient_key=recipient_key(subscriber_id),
        channel=CHANNEL,
        payload={"kind": UPDATE, "subscriber_id": subscriber_id, "update_id": update_id},
    )


def confirmation_mail(subscriber_id: int, request: str) -> Addressed:
    """The outbox row of one opt-in confirmation mail."""
    return Addressed(
        event_key=f"status.subscription:{subscriber_id}:{request}",
        recipient_key=recipient_key(subscriber_id),
        channel=CHANNEL,
        payload={"kind": CONFIRM, "subscriber_id": subscriber_id},
    )


async def enqueue_confirmation(session: AsyncSession, subscriber_id: int) -> int:
    """Ask the relay for a confirmation mail to this subscriber (one per request)."""
    return await enqueue_addressed(
        session, [confirmation_mail(subscriber_id, secrets.token_hex(8))]
    )


async def enqueue_update_mails(
    session: AsyncSession, update_id: int, subscriber_ids: Iterable[int]
) -> int:
    """One mail of this update per subscriber; how many were new."""
    return await enqueue_addressed(
        session, [update_mail(sid, update_id) for sid in sorted(set(subscriber_ids))]
    )
