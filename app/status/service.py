"""Operations on services, incidents, updates and linked tickets. Services never commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import Conflict, InvalidInput, NotFound
from app.models import (
    Incident,
    IncidentService,
    IncidentTicket,
    Service,
    StatusAudit,
    StatusUpdate,
    User,
)
from app.status import repository
from app.status.lifecycle import (
    CLOSED_STATUSES,
    Audience,
    Impact,
    check_impact,
    check_initial_status,
    check_transition,
    is_active,
    readable_by,
    worst,
)
from app.status.public import revision
from app.status.publishing import check_audience, do_submit_update
from app.status.schemas import (
    AuditOut,
    ImpactOut,
    IncidentCreate,
    IncidentOut,
    LinkedTicketOut,
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    UpdateCreate,
    UpdateOut,
)
from app.tickets.service import check_ticket_visible

# --- services -----------------------------------------------------------------------------


def reader_of(user: User) -> Audience:
    """The content audience a signed-in user reads: staff everything, others employees'."""
    return "internal" if user.role.is_staff else "employees"


async def check_service_visible(session: AsyncSession, *, slug: str, user: User) -> Service:
    """The service if `user` may see it; otherwise 404, as if it did not exist."""
    service = await repository.service_by_slug(session, slug)
    if service is None or service.visibility not in readable_by(reader_of(user)):
        raise NotFound("service not found")
    return service


async def visible_service_names(
    session: AsyncSession, *, slugs: Collection[str], user: User
) -> dict[str, str]:
    """Names of those of `slugs` that `user` may see (a hidden service's name stays hidden)."""
    readable = readable_by(reader_of(user))
    found = await repository.services_by_slugs(session, slugs)
    return {slug: service.name for slug, service in found.items() if service.visibility in readable}


async def do_create_service(session: AsyncSession, *, data: ServiceCreate) -> Service:
    """Add an IT service; its slug is unique."""
    if await repository.service_by_slug(session, data.slug) is not None:
        raise Conflict(f"a service with slug {data.slug!r} exists", code="service_exists")
    service = Service(
        slug=data.slug,
        name=data.name,
        group_name=data.group.strip(),
        description=data.description.strip(),
        visibility=data.visibility,
        position=data.position,
    )
    session.add(service)
    await session.flush()
    await revision.do_bump(session)
    return service


async def do_update_service(session: AsyncSession, *, slug: str, data: ServiceUpdate) -> Service:
    """Change a service's name, group, description, visibility or position."""
    service = await repository.service_by_slug(session, slug)
    if service is None:
        raise NotFound("service not found")
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput(f"{field} cannot be null", code="invalid_input")
        setattr(service, "group_name" if field == "group" else field, value)
    await session.flush()
    await revision.do_bump(session)
    return service


async def do_override_service(
    session: AsyncSession, *, slug: str, status: str | None, reason: str, user: User
) -> Service:
    """Set or clear a service's manual status; audited with who, when and why."""
    service = await repository.service_by_slug(session, slug)
    if service is None:
        raise NotFound("service not found")
    previous = service.override_status
    service.override_status = status
    session.add(
        StatusAudit(
            action="override" if status else "override_cleared",
            service_id=service.id,
            user_id=user.id,
            reason=reason,
            details={"from": previous, "to": status},
        )
    )
    await session.flush()
    await revision.do_bump(session)
    return service


async def derived_statuses(
    session: AsyncSession, services: Sequence[Service], reader: Audience
) -> dict[int, str]:
    """Each service's status for a reader: its override, else the worst impact of the open
    incidents that reader has been told about (staff: every open incident)."""
    told = None if reader == "internal" else readable_by(reader)
    incidents = await repository.visible_incidents(session, told, closed_since=utcnow())
    active = [i.id for i in incidents if is_active(i.kind, i.status)]
    impacts: dict[int, list[str]] = {}
    for links in (await repository.impacts_for(session, active)).values():
        for link, _service in links:
            impacts.setdefault(link.service_id, []).append(link.impact)
    return {s.id: s.override_status or worst(impacts.get(s.id, ())) for s in services}


async def services_for(session: AsyncSession, *, user: User) -> list[ServiceOut]:
    """The services a signed-in user may see, with the status they may know."""
    reader = reader_of(user)
    services = await repository.list_services(session, readable_by(reader))
    statuses = await derived_statuses(session, services, reader)
    return [service_out(s, statuses[s.id], staff=reader == "internal") for s in services]


def service_out(service: Service, status: str, *, staff: bool) -> ServiceOut:
    """A service as the API shows it; the override only to staff."""
    return ServiceOut(
        slug=service.slug,
        name=service.name,
        group=service.group_name,
        description=service.description,
        visibility=service.visibility,
        position=service.position,
        status=status,
        override_status=service.override_status if staff else None,
    )


# --- incidents and updates ----------------------------------------------------------------


async def _resolve_services(
    session: AsyncSession, data: IncidentCreate
) -> list[tuple[Service, str]]:
    found = await repository.services_by_slugs(session, [a.service for a in data.services])
    unknown = [a.service for a in data.services if a.service not in found]
    if unknown:
        raise InvalidInput(
            f"unknown service: {', '.join(unknown)}",
            code="unknown_service",
            details={"services": unknown},
        )
    default: Impact = "maintenance" if data.kind == "maintenance" else "major_outage"
    chosen: list[tuple[Service, str]] = []
    for affected in data.services:
        impact = affected.impact or default
        check_impact(data.kind, impact)
        chosen.append((found[affected.service], impact))
    return chosen


async def do_create_incident(
    session: AsyncSession, *, data: IncidentCreate, author: User
) -> Incident:
    """Open an incident or schedule a maintenance, with its first update."""
    affected = await _resolve_services(session, data)
    first = data.update
    status = first.status or ("scheduled" if data.kind == "maintenance" else "investigating")
    check_initial_status(data.kind, status)
    check_audience(first.audience, [service for service, _ in affected])
    now = utcnow()
    incident = Incident(
        kind=data.kind,
        title=data.title,
        public_title=data.public_title,
        status=status,
        scheduled_start=data.scheduled_start,
        scheduled_end=data.scheduled_end,
        started_at=now if is_active(data.kind, status) else None,
        created_by_user_id=author.id,
    )
    session.add(incident)
    await session.flush()
    session.add_all(
        IncidentService(incident_id=incident.id, service_id=service.id, impact=impact)
        for service, impact in affected
    )
    await session.flush()
    await do_submit_update(
        session,
        incident=incident,
        update=_new_update(incident, first, status, author),
        author=author,
    )
    return incident


def _new_update(incident: Incident, data: UpdateCreate, status: str, author: User) -> StatusUpdate:
    return StatusUpdate(
        incident_id=incident.id,
        author_user_id=author.id,
        audience=data.audience,
        body=data.body,
        public_body=data.public_body,
        from_status=incident.status,
        to_status=status,
        state="pending",
        findings=[],
    )


async def do_add_update(
    session: AsyncSession, *, incident_id: int, data: UpdateCreate, author: User
) -> StatusUpdate:
    """Post an update; its status transition applies now, its text per the publishing rules."""
    incident = await repository.get_incident(session, incident_id, lock=True)
    if incident is None:
        raise NotFound("status incident not found")
    status = data.status or incident.status
    check_transition(incident.kind, incident.status, status)
    services = [s for _, s in (await repository.impacts_for(session, [incident.id]))[incident.id]]
    check_audience(data.audience, services)
    update = _new_update(incident, data, status, author)
    _apply_transition(incident, status)
    update = await do_submit_update(session, incident=incident, update=update, author=author)
    if status in CLOSED_STATUSES and update.from_status not in CLOSED_STATUSES:
        # The intent only: the write-back path posts the comments to the ticketing system.
        await repository.request_closing_comments(
            session, incident_id=incident.id, update_id=update.id
        )
    return update


def _apply_transition(incident: Incident, status: str) -> None:
    now = utcnow()
    if incident.started_at is None and is_active(incident.kind, status):
        incident.started_at = now
    if status in CLOSED_STATUSES and incident.resolved_at is None:
        incident.resolved_at = now
        # A maintenance completed without going in progress never affected anything.
        incident.started_at = incident.started_at or now
    incident.status = status
    incident.updated_at = now


async def check_incident(session: AsyncSession, incident_id: int) -> Incident:
    """The incident, or 404."""
    incident = await repository.get_incident(session, incident_id)
    if incident is None:
        raise NotFound("status incident not found")
    return incident


async def do_link_ticket(
    session: AsyncSession, *, incident_id: int, ticket_id: int, user: User
) -> IncidentTicket:
    """Link a ticket to an incident (idempotent); its followers hear the incident's news."""
    incident = await check_incident(session, incident_id)
    try:
        await check_ticket_visible(session, user=user, ticket_id=ticket_id)
    except NotFound:
        raise InvalidInput("unknown ticket", code="unknown_ticket") from None
    existing = await repository.ticket_link(session, incident_id=incident.id, ticket_id=ticket_id)
    if existing is not None:
        return existing
    link = IncidentTicket(incident_id=incident.id, ticket_id=ticket_id, linked_by_user_id=user.id)
    session.add(link)
    await session.flush()
    return link


async def incidents_out(session: AsyncSession, incidents: Sequence[Incident]) -> list[IncidentOut]:
    """Staff's full view of incidents: every update (drafts too), its audit, linked tickets."""
    ids = [i.id for i in incidents]
    impacts = await repository.impacts_for(session, ids)
    updates = await repository.updates_for(session, ids)
    audit = await repository.audit_for(session, [u.id for ups in updates.values() for u in ups])
    tickets = await repository.tickets_for(session, ids)
    return [
        IncidentOut(
            id=i.id,
            kind=i.kind,
            title=i.title,
            public_title=i.public_title,
            status=i.status,
            scheduled_start=i.scheduled_start,
            scheduled_end=i.scheduled_end,
            started_at=i.started_at,
            resolved_at=i.resolved_at,
            created_by_user_id=i.created_by_user_id,
            created_at=i.created_at,
            services=[
                ImpactOut(service=s.slug, name=s.name, impact=link.impact)
                for link, s in impacts[i.id]
            ],
            updates=[update_out(u, audit.get(u.id, [])) for u in updates[i.id]],
            tickets=[LinkedTicketOut.model_validate(t) for t in tickets[i.id]],
        )
        for i in incidents
    ]


def update_out(update: StatusUpdate, audit: Sequence[StatusAudit] = ()) -> UpdateOut:
    """An update with its audit trail, for staff."""
    out = UpdateOut.model_validate(update)
    out.audit = [AuditOut.model_validate(a) for a in audit]
    return out
