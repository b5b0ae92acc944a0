"""What the status domain tells the rest of the service when an update goes out.

`on_status_update_published` is THE hook: it runs inside the transaction that published the
update (so whatever it writes — decisions, outbox rows — commits or rolls back with it),
once per update, when the update becomes visible to its audience:

- `internal` updates: at submission (staff only);
- `employees` updates: at submission when clean, else when approved;
- `public` updates: when a second person approves them.

By then the status domain has applied its own approval: a public update reaching this hook
was approved by a named person other than its author. The lead wires notifications here,
e.g. `await notify_event(session, policy_event_for(update, incident), scope_for(...))`;
`policy_event_for` builds the policy's view of the update, and the same builder replays
published updates for `simulate` (the `status_updates` event source) and reads one back
by its key (`load_status_update_event`) when a policy approver releases what a rule held
(a policy with `require_approval` for staff, employees or service subscribers: public
updates were approved here already and open no policy approval).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Incident, Service, StatusUpdate, Subscriber, SubscriberService
from app.policy.decisions.notify import notify_event
from app.policy.decisions.sources import EventScope, SourcedEvent, id_in_key, register_event_source
from app.policy.engine.evaluator import Actor, PolicyEvent
from app.status import repository
from app.status.lifecycle import closes
from app.status.subscribers.outbox import enqueue_update_mails
from app.status.webhooks.enqueue import enqueue_webhooks

log = logging.getLogger(__name__)

EVENT_KEY_PREFIX = "status.update:"


def policy_event_for(update: StatusUpdate, incident: Incident) -> PolicyEvent:
    """The policy's view of a published update (`status.resolved` when it closes the incident)."""
    audience = update.audience
    return PolicyEvent(
        key=f"{EVENT_KEY_PREFIX}{update.id}",
        type="status.resolved" if closes(update.from_status, update.to_status) else "status.update",
        # Internal status text is internal content; employees and public text is not.
        visibility="internal" if audience == "internal" else "public",
        occurred_at=update.published_at or update.created_at,
        actor=Actor(update.author_user_id, "agent") if update.author_user_id else None,
        old_status=update.from_status,
        new_status=update.to_status,
        body=update.body,
        public_body=update.published_body,
        audience=audience,  # type: ignore[arg-type]
    )


def scope_for(update: StatusUpdate, incident: Incident, services: list[Service]) -> EventScope:
    """What resolving the event's audiences needs: the (first) service and a subject line."""
    return EventScope(
        service=services[0].slug if services else None,
        subject=f"status update on {incident.title!r} ({update.audience})",
    )


async def load_status_updates_between(
    session: AsyncSession, since: datetime, until: datetime, limit: int
) -> list[SourcedEvent]:
    """Published updates as policy events, for `simulate` (registered as `status_updates`)."""
    rows = await repository.published_between(session, since, until, limit)
    impacts = await repository.impacts_for(session, {incident.id for _, incident in rows})
    return [
        SourcedEvent(
            policy_event_for(update, incident),
            scope_for(update, incident, [s for _, s in impacts[incident.id]]),
        )
        for update, incident in rows
    ]


register_event_source("status_updates", load_status_updates_between)


async def load_status_update_event(session: AsyncSession, key: str) -> SourcedEvent | None:
    """The policy event of a published update (`status.update:<id>`); None if it is gone."""
    update_id = id_in_key(key, EVENT_KEY_PREFIX)
    update = await session.get(StatusUpdate, update_id) if update_id is not None else None
    if update is None or update.state != "published":
        return None
    incident = await session.get(Incident, update.incident_id)
    if incident is None:
        return None
    impacts = await repository.impacts_for(session, {incident.id})
    scope = scope_for(update, incident, [s for _, s in impacts.get(incident.id, [])])
    return SourcedEvent(policy_event_for(update, incident), scope)


async def on_status_update_published(session: AsyncSession, update: StatusUpdate) -> None:
    """Called once per update when it is published, in the publishing transaction.

    The policy decides who hears about it (staff, employees, service subscribers) and the
    outbox delivers. The status desk already applied the two-person rule to anything for
    the public, so no second approval request is opened for it here.
    """
    incident = await session.get(Incident, update.incident_id)
    if incident is None:
        return
    impacts = await repository.impacts_for(session, {incident.id})
    scope = scope_for(update, incident, [s for _, s in impacts.get(incident.id, [])])
    if update.audience == "public":
        scope = replace(scope, approved_by_user_id=update.decided_by_user_id)
    decisions = await notify_event(session, policy_event_for(update, incident), scope)
    if update.audience == "public":
        await _mail_subscribers(session, update, [s.id for _, s in impacts.get(incident.id, [])])
    # Webhook subscribers whose audience may read this update (each at most once).
    await enqueue_webhooks(session, update, impacts.get(incident.id, []))
    log.info(
        "status update %s published (incident %s, audience %s): %d decisions",
        update.id,
        update.incident_id,
        update.audience,
        len(decisions),
    )


async def _mail_subscribers(
    session: AsyncSession, update: StatusUpdate, service_ids: list[int]
) -> None:
    """One outbox row per confirmed e-mail subscriber of the affected services (each at most
    once: a replay of the publication writes nothing new)."""
    if not service_ids:
        return
    stmt = (
        select(Subscriber.id)
        .join(SubscriberService, SubscriberService.subscriber_id == Subscriber.id)
        .where(
            SubscriberService.service_id.in_(service_ids),
            Subscriber.kind == "email",
            Subscriber.confirmed_at.is_not(None),
            Subscriber.unsubscribed_at.is_(None),
        )
        .distinct()
    )
    await enqueue_update_mails(session, update.id, (await session.execute(stmt)).scalars())
