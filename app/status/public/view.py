"""What one audience may see of the status: the single source of the page, JSON and feeds.

Two walls keep content where it belongs (invariants 1 and 3):
1. the queries ask only for published updates of the audiences this reader may read, and
   only for incidents that have one (an incident told to nobody here does not exist here);
2. every text is handed out through `release`, which checks the update once more and calls
   the policy's `guard_egress` for the channel: a bug in (1) fails loudly, never leaks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Incident, IncidentService, Service, StatusUpdate
from app.policy.guard.egress import InternalContentLeak, guard_egress
from app.status import repository
from app.status.lifecycle import (
    ViewerAudience,
    is_active,
    label,
    overall,
    readable_by,
    severity,
    worst,
)
from app.status.public.render import to_html
from app.status.publishing import audience_title

HISTORY_DAYS = 90
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
RECENT_DAYS = 7
Channel = str  # "status_page", "feed", or "status_webhook"


@dataclass(frozen=True, slots=True)
class DayView:
    day: date
    status: str  # a service status, or "no_data" before the service existed
    label: str


@dataclass(frozen=True, slots=True)
class ServiceView:
    slug: str
    name: str
    group: str
    description: str
    status: str
    status_label: str
    days: tuple[DayView, ...]


@dataclass(frozen=True, slots=True)
class UpdateView:
    id: int
    status: str
    status_label: str
    text: str
    html: Markup
    published_at: datetime


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    kind: str
    title: str
    status: str
    status_label: str
    impact: str
    services: tuple[tuple[str, str], ...]  # (slug, name)
    updates: tuple[UpdateView, ...]  # newest first
    started_at: datetime | None
    resolved_at: datetime | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StatusView:
    audience: ViewerAudience
    generated_at: datetime
    indicator: str
    description: str
    services: tuple[ServiceView, ...]
    incidents: tuple[IncidentView, ...]  # open incidents
    maintenances: tuple[IncidentView, ...]  # scheduled or in progress
    recent: tuple[IncidentView, ...]  # closed in the last RECENT_DAYS

    @property
    def groups(self) -> list[tuple[str, list[ServiceView]]]:
        grouped: dict[str, list[ServiceView]] = defaultdict(list)
        for service in self.services:
            grouped[service.group].append(service)
        return list(grouped.items())


def _recipient(audience: ViewerAudience, channel: Channel) -> tuple[str, str]:
    # A signed-in employee's own page or feed is personal (like their inbox), not a broadcast.
    if audience == "employees":
        return "end_user", "in_app"
    return "public", channel


def release(update: StatusUpdate, audience: ViewerAudience, channel: Channel) -> str:
    """The published text of an update for this audience, or InternalContentLeak."""
    if update.state != "published" or update.published_body is None:
        raise InternalContentLeak(f"status update {update.id} is not published to anyone outside")
    if update.audience not in readable_by(audience):
        raise InternalContentLeak(f"status update {update.id} is not for {audience}")
    role, egress_channel = _recipient(audience, channel)
    guard_egress(
        update.audience,
        role,
        False,
        audience,
        may_see_ticket=True,
        channel=egress_channel,
    )
    return update.published_body


@dataclass(frozen=True, slots=True)
class ReleasedUpdate:
    """One published update as an audience may read it on a channel (feeds, webhooks)."""

    update_id: int
    incident_id: int
    title: str  # the incident's title this audience reads
    status: str  # the status the update moved the incident to
    text: str
    published_at: datetime
    services: tuple[tuple[str, str, str], ...]  # (slug, name, impact), visible to it


def release_update(
    update: StatusUpdate,
    incident: Incident,
    impacts: Sequence[tuple[IncidentService, Service]],
    audience: ViewerAudience,
    channel: Channel,
) -> ReleasedUpdate | None:
    """The update for this audience, or None when its incident is only on services the
    audience cannot see (as on the page). Its text comes through `release`, so anything
    not published to this audience raises InternalContentLeak instead of going out."""
    readable = readable_by(audience)
    visible = tuple(
        (service.slug, service.name, link.impact)
        for link, service in impacts
        if service.visibility in readable
    )
    if not visible:
        return None
    text = release(update, audience, channel)
    return ReleasedUpdate(
        update_id=update.id,
        incident_id=incident.id,
        title=audience_title(incident),
        status=update.to_status,
        text=text,
        published_at=update.published_at or update.created_at,
        services=visible,
    )


def _release_service(service: Service, audience: ViewerAudience) -> None:
    if service.visibility not in readable_by(audience):
        raise InternalContentLeak(f"service {service.slug} is not visible to {audience}")


def incident_view(
    incident: Incident,
    services: Sequence[tuple[str, str, str]],  # (slug, name, impact), already visible
    updates: Sequence[StatusUpdate],
    audience: ViewerAudience,
    channel: Channel,
) -> IncidentView:
    """One incident as this audience sees it: the title they are given, released updates."""
    released = []
    for update in updates:
        text = release(update, audience, channel)
        released.append(
            UpdateView(
                update.id,
                update.to_status,
                label(update.to_status),
                text,
                to_html(text),
                update.published_at or update.created_at,
            )
        )
    released.sort(key=lambda u: (u.published_at, u.id), reverse=True)
    return IncidentView(
        id=incident.id,
        kind=incident.kind,
        title=audience_title(incident),
        status=incident.status,
        status_label=label(incident.status),
        impact=worst(impact for _, _, impact in services),
        services=tuple((slug, name) for slug, name, _ in services),
        updates=tuple(released),
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        scheduled_start=incident.scheduled_start,
        scheduled_end=incident.scheduled_end,
        created_at=incident.created_at,
        updated_at=max([incident.updated_at, *(u.published_at for u in released)]),
    )


async def build_view(
    session: AsyncSession,
    audience: ViewerAudience,
    *,
    now: datetime,
    channel: Channel,
    zone: tzinfo = UTC,
) -> StatusView:
    """Everything this audience may see now, checked on the way out; the day history in
    calendar days of `zone` (the reader's, when the page is rendered in their zone)."""
    readable = readable_by(audience)
    services = await repository.list_services(session, readable)
    for service in services:
        _release_service(service, audience)
    by_id = {s.id: s for s in services}
    incidents = await repository.visible_incidents(
        session, readable, closed_since=now - timedelta(days=RECENT_DAYS)
    )
    ids = [i.id for i in incidents]
    impacts = await repository.impacts_for(session, ids)
    updates = await repository.updates_for(session, ids, published_for=readable)
    views: list[IncidentView] = []
    active_impacts: dict[int, list[str]] = defaultdict(list)
    for incident in incidents:
        affected = [
            (s.slug, s.name, link.impact) for link, s in impacts[incident.id] if s.id in by_id
        ]
        if not affected:
            continue  # only on services this audience cannot see: not theirs to know about
        views.append(incident_view(incident, affected, updates[incident.id], audience, channel))
        if is_active(incident.kind, incident.status):
            for link, s in impacts[incident.id]:
                active_impacts[s.id].append(link.impact)
    history = await _history(session, services, audience, now.astimezone(zone))
    service_views = []
    for s in services:
        status = s.override_status or worst(active_impacts[s.id])
        group = s.group_name or "Services"
        service_views.append(
            ServiceView(s.slug, s.name, group, s.description, status, label(status), history[s.id])
        )
    indicator, description = overall(v.status for v in service_views)
    closed = {"resolved", "completed"}
    return StatusView(
        audience=audience,
        generated_at=now,
        indicator=indicator,
        description=description,
        services=tuple(service_views),
        incidents=tuple(v for v in views if v.kind == "incident" and v.status not in closed),
        maintenances=tuple(
            sorted(
                (v for v in views if v.kind == "maintenance" and v.status not in closed),
                key=lambda v: v.scheduled_start or v.created_at,
            )
        ),
        recent=tuple(v for v in views if v.status in closed),
    )


async def _history(
    session: AsyncSession, services: Sequence[Service], audience: ViewerAudience, now: datetime
) -> dict[int, tuple[DayView, ...]]:
    """Per service, HISTORY_DAYS days ending today: the worst impact and its incidents.

    Days are calendar days in `now`'s zone (the reader's own for a signed-in reader, else
    UTC): an incident at 23:30 UTC falls on the next day for a reader in Berlin.
    """
    zone = now.tzinfo or UTC

    def local_day(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    today = now.date()
    first = today - timedelta(days=HISTORY_DAYS - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    marks: dict[tuple[int, date], tuple[str, list[str]]] = {}
    for past in await repository.history_impacts(session, readable_by(audience), since=start):
        day = max(local_day(past.started_at), first)
        last = min(local_day(past.ended_at or now), today)
        status = worst([past.impact])
        while day <= last:
            found, titles = marks.get((past.service_id, day), ("operational", []))
            if severity(status) > severity(found):
                found = status
            marks[(past.service_id, day)] = (found, [*titles, past.title])
            day += timedelta(days=1)
    days = [first + timedelta(days=n) for n in range(HISTORY_DAYS)]
    # Quiet days are the same for every service: build them once, not once per service.
    names = {day: f"{day.day:02d} {_MONTHS[day.month - 1]} {day.year}" for day in days}
    quiet = {day: DayView(day, "operational", f"{names[day]}: no incidents") for day in days}
    unknown = {day: DayView(day, "no_data", f"{names[day]}: no data") for day in days}
    history = {}
    for service in services:
        created = local_day(service.created_at)
        row = []
        for day in days:
            mark = marks.get((service.id, day))
            if mark is not None:
                impact, titles = mark
                text = f"{names[day]}: {label(impact).lower()} ({'; '.join(titles)})"
                row.append(DayView(day, impact, text))
            else:
                row.append(quiet[day] if day >= created else unknown[day])
        history[service.id] = tuple(row)
    return history
