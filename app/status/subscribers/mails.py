"""The mails e-mail subscribers receive, composed when the relay sends them.

Registered as the composer of the `status_email` channel (`app.wiring`). For each claimed
row it reads the database as it is now: an address unsubscribed since is skipped, so is a
confirmation for an address confirmed since. An update's text is released exactly as for
the public feed (`app.status.public.view.release_update`: a published public update, the
title and services the public is given), so a subscriber can only ever get the approved
public text; whatever the guard refuses is a dead, refused delivery.

Each mail carries the subscriber's unsubscribe link as `List-Unsubscribe`, with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058: mail clients POST to the
link, which unsubscribes), and a Message-ID derived from the outbox key (the e-mail
channel's `build_email`), the same on every retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Delivery, Incident, IncidentService, Service, StatusUpdate, Subscriber
from app.notifications.compose import Composed, ComposeSettings
from app.notifications.content import OutboundMessage, Section
from app.policy.guard.egress import InternalContentLeak
from app.status import repository
from app.status.lifecycle import label
from app.status.public.view import release_update
from app.status.subscribers.outbox import CHANNEL, CONFIRM
from app.status.subscribers.service import (
    CONFIRM_PURPOSE,
    CONFIRMATION_SUBJECT,
    CONFIRMATION_TEXT,
    UNSUBSCRIBE_PURPOSE,
    confirm_url,
    unsubscribe_url,
)


class _Unsent(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


async def compose_status_mails(
    session: AsyncSession, rows: Sequence[Delivery], settings: ComposeSettings, now: datetime
) -> Composed:
    """Messages for claimed `status_email` rows; the rest reported in `unsent`."""
    subscriber_ids = {int(r.payload.get("subscriber_id", 0)) for r in rows}
    update_ids = {int(r.payload.get("update_id", 0)) for r in rows if r.payload.get("update_id")}
    subscribers = {
        s.id: s
        for s in (
            await session.execute(select(Subscriber).where(Subscriber.id.in_(subscriber_ids)))
        ).scalars()
    }
    updates = {
        u.id: u
        for u in (
            await session.execute(select(StatusUpdate).where(StatusUpdate.id.in_(update_ids)))
        ).scalars()
    }
    incident_ids = {u.incident_id for u in updates.values()}
    incidents = {
        i.id: i
        for i in (
            await session.execute(select(Incident).where(Incident.id.in_(incident_ids)))
        ).scalars()
    }
    impacts = await repository.impacts_for(session, incident_ids) if incident_ids else {}
    composed = Composed()
    for row in rows:
        subscriber = subscribers.get(int(row.payload.get("subscriber_id", 0)))
        try:
            if (
                subscriber is None
                or subscriber.kind != "email"
                or not subscriber.email
                or subscriber.unsubscribed_at is not None
            ):
                raise _Unsent("skipped", "the subscriber unsubscribed or was removed")
            if row.payload.get("kind") == CONFIRM:
                message = _confirmation(row, subscriber, settings, now)
            else:
                update = updates.get(int(row.payload.get("update_id", 0)))
                incident = incidents.get(update.incident_id) if update is not None else None
                if update is None or incident is None:
                    raise _Unsent("skipped", "the status update no longer exists")
                message = _update(
                    row, subscriber, update, incident, impacts.get(incident.id, []), settings
                )
            composed.messages.append(message)
        except _Unsent as unsent:
            composed.unsent[row.id] = (unsent.outcome, unsent.detail)
        except InternalContentLeak as leak:
            composed.unsent[row.id] = ("refused", str(leak))
    return composed


def _leave(settings: ComposeSettings, subscriber: Subscriber) -> str:
    signer = settings.signers.get(UNSUBSCRIBE_PURPOSE)
    if signer is None:
        raise _Unsent("failed", "this relay cannot sign status unsubscribe links")
    return unsubscribe_url(signer, settings.base_url, subscriber)


def _confirmation(
    row: Delivery, subscriber: Subscriber, settings: ComposeSettings, now: datetime
) -> OutboundMessage:
    if subscriber.confirmed_at is not None:
        raise _Unsent("skipped", "the subscription was confirmed already")
    signer = settings.signers.get(CONFIRM_PURPOSE)
    if signer is None:
        raise _Unsent("failed", "this relay cannot sign status confirmation links")
    section = Section(
        event_type="status.subscription",
        heading=CONFIRMATION_SUBJECT,
        text=CONFIRMATION_TEXT,
        occurred_at=now,
        visibility="public",
        audience="public",
        may_see_ticket=True,
    )
    link = (confirm_url(signer, settings.base_url, subscriber), "Confirm your subscription")
    return _message(
        row, subscriber, CONFIRMATION_SUBJECT, section, link, _leave(settings, subscriber)
    )


def _update(
    row: Delivery,
    subscriber: Subscriber,
    update: StatusUpdate,
    incident: Incident,
    impacts: Sequence[tuple[IncidentService, Service]],
    settings: ComposeSettings,
) -> OutboundMessage:
    # Exactly the public feed's rule and code: anything not published to the public raises.
    released = release_update(update, incident, impacts, "public", CHANNEL)
    if released is None:
        raise _Unsent("skipped", "the incident affects no public service")
    subject = f"[Status] {released.title}: {label(released.status)}"
    section = Section(
        event_type="status.update",
        heading=subject,
        text=released.text,
        occurred_at=released.published_at,
        visibility="public",
        audience="public",
        may_see_ticket=True,
    )
    page = (f"{settings.base_url.rstrip('/')}/status#incident-{incident.id}", "Status page")
    return _message(row, subscriber, subject, section, page, _leave(settings, subscriber))


def _message(
    row: Delivery,
    subscriber: Subscriber,
    subject: str,
    section: Section,
    link: tuple[str, str],
    leave: str,
) -> OutboundMessage:
    url, label_ = link
    return OutboundMessage(
        delivery_id=row.id,
        idempotency_key=row.idempotency_key,
        channel=CHANNEL,
        user_id=None,
        recipient_role="public",
        recipient_name="",
        recipient_email=subscriber.email or "",
        destination_internal=False,
        subject=subject,
        sections=(section,),
        link=url,
        link_label=label_,
        unsubscribe_url=leave,
    )
