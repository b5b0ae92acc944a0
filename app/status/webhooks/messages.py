"""The body a status webhook receives, composed when the relay sends it.

Registered as the composer of the `status_webhook` channel (`app.wiring`). For each
claimed row it reads the database as it is now: a webhook removed since is skipped; the
text is released exactly as for the public feed (`app.status.public.view.release_update`: only a
published update of an audience the webhook may read, the title and services that
audience is given), so a public webhook can only ever get the approved public text. A
staff-only (`internal`) webhook gets staff content, through the egress guard as a
destination marked internal. Whatever the guard refuses is a dead, refused delivery.

The JSON (Statuspage-like; `meta.timestamp` is added by the channel when it signs):

    {"meta": {"event": "status.update" | "status.resolved", "delivery_id": "...",
              "webhook_id": 3, "audience": "public"},
     "page": {"url": "https://desk.example.com/status"},
     "services": [{"slug": "vpn", "name": "VPN", "impact": "major_outage"}],
     "incident": {"id": 12, "kind": "incident", "title": "...", "state": "identified",
                  "impact": "major_outage", "url": ".../status#incident-12",
                  "started_at": "...", "resolved_at": null},
     "update": {"id": 40, "state": "identified", "previous_state": "investigating",
                "body": "...", "created_at": "...", "published_at": "..."}}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Delivery, Incident, IncidentService, Service, StatusUpdate, Subscriber
from app.notifications.compose import Composed, ComposeSettings
from app.notifications.content import OutboundMessage, Section, Target
from app.policy.guard.egress import ContentVisibility, InternalContentLeak, guard_egress
from app.status import repository
from app.status.lifecycle import ViewerAudience, closes, label, worst
from app.status.public.view import ReleasedUpdate, release_update
from app.status.webhooks.enqueue import CHANNEL

# What the egress guard is told about each kind of webhook: (recipient role, marked
# internal). A public webhook is the public; an employees one reaches employees only (as a
# signed-in employee's own feed does); only a staff-only webhook is a destination marked
# internal.
_RECIPIENT: dict[str, tuple[str, bool]] = {
    "public": ("public", False),
    "employees": ("end_user", False),
    "internal": ("external", True),
}


class _Unsent(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _content_visibility(update: StatusUpdate) -> ContentVisibility:
    return cast(ContentVisibility, update.audience)


def _staff_release(
    update: StatusUpdate, incident: Incident, impacts: Sequence[tuple[IncidentService, Service]]
) -> ReleasedUpdate:
    """A published update for a staff-only webhook: every service, staff's title."""
    if update.state != "published":
        raise InternalContentLeak(f"status update {update.id} is not published")
    guard_egress(
        _content_visibility(update), "external", True, "internal",
        may_see_ticket=True, channel=CHANNEL,
    )  # fmt: skip
    text = update.published_body if update.published_body is not None else update.body
    return ReleasedUpdate(
        update_id=update.id,
        incident_id=incident.id,
        title=incident.title,
        status=update.to_status,
        text=text,
        published_at=update.published_at or update.created_at,
        services=tuple((s.slug, s.name, link.impact) for link, s in impacts),
    )


def webhook_document(
    released: ReleasedUpdate,
    update: StatusUpdate,
    incident: Incident,
    *,
    webhook: Subscriber,
    delivery_id: str,
    base_url: str,
) -> dict[str, Any]:
    """The JSON body for one webhook (without `meta.timestamp`, which the channel adds)."""
    page = f"{base_url.rstrip('/')}/status"
    event = "status.resolved" if closes(update.from_status, update.to_status) else "status.update"
    return {
        "meta": {
            "event": event,
            "delivery_id": delivery_id,
            "webhook_id": webhook.id,
            "audience": webhook.audience,
        },
        "page": {"url": page},
        "services": [
            {"slug": slug, "name": name, "impact": impact}
            for slug, name, impact in released.services
        ],
        "incident": {
            "id": incident.id,
            "kind": incident.kind,
            "title": released.title,
            "state": incident.status,
            "state_label": label(incident.status),
            "impact": worst(impact for _, _, impact in released.services),
            "url": f"{page}#incident-{incident.id}",
            "started_at": _iso(incident.started_at),
            "resolved_at": _iso(incident.resolved_at),
        },
        "update": {
            "id": update.id,
            "state": released.status,
            "state_label": label(released.status),
            "previous_state": update.from_status,
            "body": released.text,
            "created_at": _iso(update.created_at),
            "published_at": _iso(released.published_at),
        },
    }


async def compose_webhooks(
    session: AsyncSession, rows: Sequence[Delivery], settings: ComposeSettings, now: datetime
) -> Composed:
    """Messages for claimed `status_webhook` rows; the rest reported in `unsent`."""
    webhook_ids = {int(r.payload.get("webhook_id", 0)) for r in rows}
    update_ids = {int(r.payload.get("update_id", 0)) for r in rows}
    webhooks = {
        w.id: w
        for w in (
            await session.execute(select(Subscriber).where(Subscriber.id.in_(webhook_ids)))
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
    impacts = await repository.impacts_for(session, incident_ids)
    composed = Composed()
    for row in rows:
        webhook = webhooks.get(int(row.payload.get("webhook_id", 0)))
        update = updates.get(int(row.payload.get("update_id", 0)))
        try:
            if webhook is None or webhook.kind != "webhook" or webhook.unsubscribed_at is not None:
                raise _Unsent("skipped", "the webhook was removed")
            if update is None or update.incident_id not in incidents:
                raise _Unsent("skipped", "the status update no longer exists")
            incident = incidents[update.incident_id]
            composed.messages.append(
                _message(row, webhook, update, incident, impacts[incident.id], settings)
            )
        except _Unsent as unsent:
            composed.unsent[row.id] = (unsent.outcome, unsent.detail)
        except InternalContentLeak as leak:
            composed.unsent[row.id] = ("refused", str(leak))
    return composed


def _message(
    row: Delivery,
    webhook: Subscriber,
    update: StatusUpdate,
    incident: Incident,
    impacts: Sequence[tuple[IncidentService, Service]],
    settings: ComposeSettings,
) -> OutboundMessage:
    audience = webhook.audience
    if audience not in _RECIPIENT:
        raise InternalContentLeak(f"unknown webhook audience {audience!r}")
    if audience == "internal":
        released: ReleasedUpdate | None = _staff_release(update, incident, impacts)
    else:
        # Exactly the public feed's rule and code, for this webhook's audience.
        released = release_update(
            update, incident, impacts, cast(ViewerAudience, audience), CHANNEL
        )
    if released is None:
        raise _Unsent("skipped", "the incident affects no service this webhook may see")
    try:
        secret = settings.box.open(webhook.secret_sealed or "").get("secret")
    except ValueError:
        raise _Unsent("failed", "the webhook secret cannot be decrypted with this key") from None
    role, internal = _RECIPIENT[audience]
    document = webhook_document(
        released, update, incident,
        webhook=webhook, delivery_id=row.idempotency_key, base_url=settings.base_url,
    )  # fmt: skip
    section = Section(
        event_type=str(document["meta"]["event"]),
        heading=f"{released.title}: {label(released.status)}",
        text=released.text,
        occurred_at=released.published_at,
        visibility=_content_visibility(update),
        audience=audience,
        may_see_ticket=True,
    )
    return OutboundMessage(
        delivery_id=row.id,
        idempotency_key=row.idempotency_key,
        channel=CHANNEL,
        user_id=None,
        recipient_role=role,
        recipient_name=f"status webhook {webhook.id}",
        recipient_email="",
        destination_internal=internal,
        subject=section.heading,
        sections=(section,),
        link=str(document["incident"]["url"]),
        target=Target(webhook.id, webhook.url or "", str(secret) if secret else None, internal),
        document=document,
    )
