"""The status API under /api/v1: services, incidents, updates, approvals, links, tokens."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Query, Request, status

from app.auth.permissions import Admin, CurrentUser, Staff
from app.deps import AppSettings, Session
from app.kit.errors import NotFound
from app.kit.ids import Id
from app.kit.secrets import SecretBox
from app.status import publishing, repository, service
from app.status.lifecycle import IncidentKind
from app.status.schemas import (
    AuditOut,
    Decision,
    FeedTokenOut,
    IncidentCreate,
    IncidentOut,
    LinkedTicketOut,
    Rejection,
    ServiceCreate,
    ServiceOut,
    ServiceOverride,
    ServiceUpdate,
    TicketLink,
    UpdateCreate,
    UpdateOut,
    WebhookCreate,
    WebhookOut,
)
from app.status.subscribers import service as subscribers

router = APIRouter(prefix="/api/v1", tags=["status"])


# --- services -----------------------------------------------------------------------------


@router.get("/services")
async def list_services(session: Session, user: CurrentUser) -> list[ServiceOut]:
    """Staff see every service; other signed-in people employee and public ones."""
    return await service.services_for(session, user=user)


@router.post("/services", status_code=status.HTTP_201_CREATED)
async def create_service(body: ServiceCreate, session: Session, _admin: Admin) -> ServiceOut:
    created = await service.do_create_service(session, data=body)
    return service.service_out(created, "operational", staff=True)


async def _service_out(session: Session, slug: str, user: CurrentUser) -> ServiceOut:
    found = await service.check_service_visible(session, slug=slug, user=user)
    reader = service.reader_of(user)
    statuses = await service.derived_statuses(session, [found], reader)
    return service.service_out(found, statuses[found.id], staff=reader == "internal")


@router.get("/services/{slug}")
async def get_service(slug: str, session: Session, user: CurrentUser) -> ServiceOut:
    return await _service_out(session, slug, user)


@router.patch("/services/{slug}")
async def update_service(
    slug: str, body: ServiceUpdate, session: Session, admin: Admin
) -> ServiceOut:
    await service.do_update_service(session, slug=slug, data=body)
    return await _service_out(session, slug, admin)


@router.put("/services/{slug}/override")
async def override_service(
    slug: str, body: ServiceOverride, session: Session, admin: Admin
) -> ServiceOut:
    """Set or clear the manual status (audited with the reason)."""
    await service.do_override_service(
        session, slug=slug, status=body.status, reason=body.reason, user=admin
    )
    return await _service_out(session, slug, admin)


@router.get("/services/{slug}/audit")
async def service_audit(slug: str, session: Session, staff: Staff) -> list[AuditOut]:
    found = await service.check_service_visible(session, slug=slug, user=staff)
    return [AuditOut.model_validate(a) for a in await repository.service_audit(session, found.id)]


# --- incidents, updates, approvals --------------------------------------------------------


@router.post("/status/incidents", status_code=status.HTTP_201_CREATED)
async def create_incident(body: IncidentCreate, session: Session, staff: Staff) -> IncidentOut:
    incident = await service.do_create_incident(session, data=body, author=staff)
    return (await service.incidents_out(session, [incident]))[0]


@router.get("/status/incidents")
async def list_incidents(
    session: Session,
    _staff: Staff,
    open_only: Annotated[bool, Query(alias="open")] = False,
    kind: IncidentKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[IncidentOut]:
    incidents = await repository.list_incidents(
        session, open_only=open_only, kind=kind, limit=limit
    )
    return await service.incidents_out(session, incidents)


@router.get("/status/incidents/{incident_id}")
async def get_incident(incident_id: Id, session: Session, _staff: Staff) -> IncidentOut:
    incident = await service.check_incident(session, incident_id)
    return (await service.incidents_out(session, [incident]))[0]


@router.post("/status/incidents/{incident_id}/updates", status_code=status.HTTP_201_CREATED)
async def add_update(
    incident_id: Id, body: UpdateCreate, session: Session, staff: Staff
) -> UpdateOut:
    update = await service.do_add_update(session, incident_id=incident_id, data=body, author=staff)
    return service.update_out(update, (await repository.audit_for(session, [update.id]))[update.id])


@router.get("/status/updates")
async def awaiting_approval(
    session: Session, _staff: Staff, limit: Annotated[int, Query(ge=1, le=200)] = 100
) -> list[UpdateOut]:
    """Updates waiting for an approver (pending drafts and held updates), oldest first."""
    return [service.update_out(u) for u in await repository.pending_updates(session, limit)]


async def _decided(session: Session, update_id: Id) -> UpdateOut:
    update = await repository.get_update(session, update_id)
    if update is None:  # pragma: no cover - just decided in this transaction
        raise NotFound("status update not found")
    return service.update_out(update, (await repository.audit_for(session, [update_id]))[update_id])


@router.post("/status/updates/{update_id}/approve")
async def approve_update(
    update_id: Id, session: Session, staff: Staff, body: Decision | None = None
) -> UpdateOut:
    """Publish a draft or held update; never by its author (two-person rule)."""
    decision = body or Decision()
    await publishing.do_approve_update(
        session,
        update_id=update_id,
        approver=staff,
        reason=decision.reason,
        publish_redacted=decision.publish_redacted,
    )
    return await _decided(session, update_id)


@router.post("/status/updates/{update_id}/reject")
async def reject_update(
    update_id: Id, body: Rejection, session: Session, staff: Staff
) -> UpdateOut:
    await publishing.do_reject_update(session, update_id=update_id, user=staff, reason=body.reason)
    return await _decided(session, update_id)


# --- linked tickets -----------------------------------------------------------------------


@router.post("/status/incidents/{incident_id}/tickets", status_code=status.HTTP_201_CREATED)
async def link_ticket(
    incident_id: Id, body: TicketLink, session: Session, staff: Staff
) -> LinkedTicketOut:
    link = await service.do_link_ticket(
        session, incident_id=incident_id, ticket_id=body.ticket_id, user=staff
    )
    return LinkedTicketOut.model_validate(link)


@router.get("/status/incidents/{incident_id}/tickets")
async def linked_tickets(incident_id: Id, session: Session, _staff: Staff) -> list[LinkedTicketOut]:
    incident = await service.check_incident(session, incident_id)
    links = (await repository.tickets_for(session, [incident.id]))[incident.id]
    return [LinkedTicketOut.model_validate(link) for link in links]


# --- feed tokens and webhooks -------------------------------------------------------------


@router.post("/me/feed-token", status_code=status.HTTP_201_CREATED)
async def rotate_feed_token(
    session: Session, user: CurrentUser, settings: AppSettings
) -> FeedTokenOut:
    """A new personal feed token for the employee feeds; the previous one stops working."""
    token = await subscribers.do_rotate_feed_token(session, user=user)
    base = settings.base_url.rstrip("/")
    return FeedTokenOut(
        token=token,
        atom_url=f"{base}/status/feed.atom?token={token}",
        rss_url=f"{base}/status/feed.rss?token={token}",
    )


@router.get("/status/webhooks")
async def list_webhooks(session: Session, _admin: Admin) -> list[WebhookOut]:
    return await subscribers.list_webhooks(session)


@router.post("/status/webhooks", status_code=status.HTTP_201_CREATED)
async def add_webhook(
    body: WebhookCreate, request: Request, session: Session, admin: Admin
) -> WebhookOut:
    """Register a webhook subscriber (the secret is sealed and never returned)."""
    box = cast(SecretBox, request.app.state.secret_box)
    return await subscribers.do_add_webhook(session, data=body, box=box, user=admin)


@router.delete("/status/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_webhook(webhook_id: Id, session: Session, _admin: Admin) -> None:
    await subscribers.do_remove_webhook(session, webhook_id=webhook_id)
