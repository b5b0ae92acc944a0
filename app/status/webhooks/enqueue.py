"""Webhook subscribers hear published status updates: which webhook gets which update.

When an update is published (`events.on_status_update_published`, in the publishing
transaction) every active webhook gets one outbox row for it when

- its audience may read the update's audience (`readable_by`: a public webhook public
  updates only, an employees webhook public and employee updates, a staff-only webhook
  everything), and
- it subscribed to one of the incident's services that its audience may see.

The row is keyed `status.update:<update>:status-webhook:<webhook>:status_webhook` (unique in
the outbox), so a replay, a retry or a second worker never makes a second one. It carries
ids only; `app.status.webhooks.messages` composes the body when the relay sends it, through
the same release the public feed uses, and the `status_webhook` channel signs and posts it.
Retries with backoff, dead letters and the admin's retry are the outbox's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IncidentService, Service, StatusUpdate
from app.outbox.enqueue import Addressed, enqueue_addressed
from app.status import repository
from app.status.lifecycle import Audience, readable_by

CHANNEL = "status_webhook"


def recipient_key(webhook_id: int) -> str:
    return f"status-webhook:{webhook_id}"


def delivery_key(webhook_id: int, update_id: int) -> str:
    """The outbox key of one update for one webhook (also its `X-Socialdesk-Delivery`)."""
    return Addressed(
        f"status.update:{update_id}", recipient_key(webhook_id), CHANNEL, {}
    ).idempotency_key


def may_read(webhook_audience: str, content_audience: str) -> bool:
    """Whether a webhook declared for `webhook_audience` may receive that content."""
    return content_audience in readable_by(cast(Audience, webhook_audience))


async def enqueue_webhooks(
    session: AsyncSession,
    update: StatusUpdate,
    impacts: Sequence[tuple[IncidentService, Service]],
) -> int:
    """One outbox row per webhook that should hear this published update; how many new."""
    services = {service.id: service for _, service in impacts}
    chosen: set[int] = set()
    for webhook, service_id in await repository.webhooks_for_services(session, list(services)):
        if not may_read(webhook.audience, update.audience):
            continue
        if not may_read(webhook.audience, services[service_id].visibility):
            continue  # subscribed to a service its audience may not see: not through it
        chosen.add(webhook.id)
    return await enqueue_addressed(
        session,
        [
            Addressed(
                event_key=f"status.update:{update.id}",
                recipient_key=recipient_key(webhook_id),
                channel=CHANNEL,
                payload={"webhook_id": webhook_id, "update_id": update.id},
            )
            for webhook_id in sorted(chosen)
        ],
    )
