"""The status domain's queries; nothing else in the domain builds SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Exists, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import (
    FeedToken,
    Incident,
    IncidentService,
    IncidentTicket,
    Service,
    StatusAudit,
    StatusRevision,
    StatusUpdate,
    Subscriber,
    SubscriberService,
)
from app.status.lifecycle import CLOSED_STATUSES

# --- services -----------------------------------------------------------------------------


async def service_by_slug(session: AsyncSession, slug: str) -> Service | None:
    return (await session.execute(select(Service).where(Service.slug == slug))).scalar_one_or_none()


async def services_by_slugs(session: AsyncSession, slugs: Collection[str]) -> dict[str, Service]:
    if not slugs:
        return {}
    rows = await session.execute(select(Service).where(Service.slug.in_(slugs)))
    return {s.slug: s for s in rows.scalars()}


async def list_services(
    session: AsyncSession, visibilities: Collection[str] | None = None
) -> Sequence[Service]:
    """Services in page order (group, position, name), optionally of some visibilities."""
    stmt = select(Service).order_by(Service.group_name, Service.position, Service.name)
    if visibilities is not None:
        stmt = stmt.where(Service.visibility.in_(visibilities))
    return (await session.execute(stmt)).scalars().all()


# --- incidents ----------------------------------------------------------------------------


async def get_incident(
    session: AsyncSession, incident_id: int, *, lock: bool = False
) -> Incident | None:
    stmt = select(Incident).where(Incident.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_incidents(
    session: AsyncSession, *, open_only: bool, kind: str | None, limit: int
) -> Sequence[Incident]:
    stmt = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if open_only:
        stmt = stmt.where(Incident.resolved_at.is_(None))
    if kind is not None:
        stmt = stmt.where(Incident.kind == kind)
    return (await session.execute(stmt)).scalars().all()


async def impacts_for(
    session: AsyncSession, incident_ids: Collection[int]
) -> dict[int, list[tuple[IncidentService, Service]]]:
    """Each incident's affected services with their impact, in page order."""
    found: dict[int, list[tuple[IncidentService, Service]]] = defaultdict(list)
    if not incident_ids:
        return found
    rows = await session.execute(
        select(IncidentService, Service)
        .join(Service, Service.id == IncidentService.service_id)
        .where(IncidentService.incident_id.in_(incident_ids))
        .order_by(Service.group_name, Service.position, Service.name)
    )
    for link, service in rows:
        found[link.incident_id].append((link, service))
    return found


async def updates_for(
    session: AsyncSession,
    incident_ids: Collection[int],
    *,
    published_for: Collection[str] | None = None,
) -> dict[int, list[StatusUpdate]]:
    """Updates per incident, oldest first; only published ones of some audiences if asked."""
    found: dict[int, list[StatusUpdate]] = defaultdict(list)
    if not incident_ids:
        return found
    stmt = select(StatusUpdate).where(StatusUpdate.incident_id.in_(incident_ids))
    if published_for is not None:
        stmt = stmt.where(
            StatusUpdate.state == "published", StatusUpdate.audience.in_(published_for)
        ).order_by(StatusUpdate.published_at, StatusUpdate.id)
    else:
        stmt = stmt.order_by(StatusUpdate.id)
    for row in (await session.execute(stmt)).scalars():
        found[row.incident_id].append(row)
    return found


def _has_published(audiences: Collection[str]) -> Exists:
    return exists().where(
        StatusUpdate.incident_id == Incident.id,
        StatusUpdate.state == "published",
        StatusUpdate.audience.in_(audiences),
    )


async def visible_incidents(
    session: AsyncSession, audiences: Collection[str] | None, *, closed_since: datetime
) -> Sequence[Incident]:
    """Incidents open or closed since `closed_since`, newest first. With `audiences`, only
    those with a published update for one of them: an incident told to nobody in these
    audiences does not exist for them (its title included)."""
    stmt = (
        select(Incident)
        .where(or_(Incident.resolved_at.is_(None), Incident.resolved_at >= closed_since))
        .order_by(Incident.id.desc())
    )
    if audiences is not None:
        stmt = stmt.where(_has_published(audiences))
    return (await session.execute(stmt)).scalars().all()


async def pending_updates(session: AsyncSession, limit: int) -> Sequence[StatusUpdate]:
    """Updates waiting for an approver, oldest first."""
    stmt = (
        select(StatusUpdate)
        .where(StatusUpdate.state.in_(("pending", "held")))
        .order_by(StatusUpdate.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def get_update(
    session: AsyncSession, update_id: int, *, lock: bool = False
) -> StatusUpdate | None:
    stmt = select(StatusUpdate).where(StatusUpdate.id == update_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def recent_published(
    session: AsyncSession, audiences: Collection[str], limit: int
) -> Sequence[tuple[StatusUpdate, Incident]]:
    """The newest published updates for these audiences, with their incident (feeds)."""
    stmt = (
        select(StatusUpdate, Incident)
        .join(Incident, Incident.id == StatusUpdate.incident_id)
        .where(StatusUpdate.state == "published", StatusUpdate.audience.in_(audiences))
        .order_by(StatusUpdate.published_at.desc(), StatusUpdate.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def published_between(
    session: AsyncSession, since: datetime, until: datetime, limit: int
) -> Sequence[tuple[StatusUpdate, Incident]]:
    """Updates published in [since, until), oldest first, with their incident (replays)."""
    stmt = (
        select(StatusUpdate, Incident)
        .join(Incident, Incident.id == StatusUpdate.incident_id)
        .where(
            StatusUpdate.state == "published",
            StatusUpdate.published_at >= since,
            StatusUpdate.published_at < until,
        )
        .order_by(StatusUpdate.published_at, StatusUpdate.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def audit_for(
    session: AsyncSession, update_ids: Collection[int]
) -> dict[int, list[StatusAudit]]:
    found: dict[int, list[StatusAudit]] = defaultdict(list)
    if not update_ids:
        return found
    stmt = select(StatusAudit).where(StatusAudit.update_id.in_(update_ids)).order_by(StatusAudit.id)
    for row in (await session.execute(stmt)).scalars():
        if row.update_id is not None:
            found[row.update_id].append(row)
    return found


async def service_audit(session: AsyncSession, service_id: int) -> Sequence[StatusAudit]:
    stmt = select(StatusAudit).where(StatusAudit.service_id == service_id).order_by(StatusAudit.id)
    return (await session.execute(stmt)).scalars().all()


# --- linked tickets -----------------------------------------------------------------------


async def tickets_for(
    session: AsyncSession, incident_ids: Collection[int]
) -> dict[int, list[IncidentTicket]]:
    found: dict[int, list[IncidentTicket]] = defaultdict(list)
    if not incident_ids:
        return found
    stmt = (
        select(IncidentTicket)
        .where(IncidentTicket.incident_id.in_(incident_ids))
        .order_by(IncidentTicket.id)
    )
    for row in (await session.execute(stmt)).scalars():
        found[row.incident_id].append(row)
    return found


async def ticket_link(
    session: AsyncSession, *, incident_id: int, ticket_id: int
) -> IncidentTicket | None:
    stmt = select(IncidentTicket).where(
        IncidentTicket.incident_id == incident_id, IncidentTicket.ticket_id == ticket_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def request_closing_comments(
    session: AsyncSession, *, incident_id: int, update_id: int
) -> None:
    """Record, on every linked ticket not yet asked, that resolution wants a closing comment."""
    await session.execute(
        update(IncidentTicket)
        .where(
            IncidentTicket.incident_id == incident_id,
            IncidentTicket.closing_requested_at.is_(None),
        )
        .values(closing_update_id=update_id, closing_requested_at=utcnow())
    )


def _closing_free(now: datetime) -> list[ColumnElement[bool]]:
    """Asked for, neither written nor skipped, and not leased to a live worker."""
    return [
        IncidentTicket.closing_requested_at.is_not(None),
        IncidentTicket.closing_written_at.is_(None),
        IncidentTicket.closing_skipped_reason.is_(None),
        or_(
            IncidentTicket.closing_lease_expires_at.is_(None),
            IncidentTicket.closing_lease_expires_at < now,
        ),
    ]


def _has_public_resolution() -> Exists:
    return exists().where(
        StatusUpdate.incident_id == IncidentTicket.incident_id,
        StatusUpdate.state == "published",
        StatusUpdate.audience == "public",
        StatusUpdate.to_status.in_(CLOSED_STATUSES),
    )


async def pending_closing_comments(
    session: AsyncSession, limit: int, *, now: datetime | None = None
) -> Sequence[IncidentTicket]:
    """Linked tickets whose closing comment is asked for, not written (or skipped) yet, due
    now, and writable: their incident has an approved public resolution text. A ticket of
    an incident resolved without one waits, still asked for, until a public update is."""
    now = now or utcnow()
    stmt = (
        select(IncidentTicket)
        .where(
            *_closing_free(now),
            or_(
                IncidentTicket.closing_next_attempt_at.is_(None),
                IncidentTicket.closing_next_attempt_at <= now,
            ),
            _has_public_resolution(),
        )
        .order_by(IncidentTicket.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def lease_closing_comment(
    session: AsyncSession, link_id: int, *, owner: str, now: datetime, until: datetime
) -> bool:
    """Take one pending closing comment for `owner` unless another worker holds it."""
    result = await session.execute(
        update(IncidentTicket)
        .where(IncidentTicket.id == link_id, *_closing_free(now))
        .values(closing_lease_owner=owner, closing_lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def resolution_update(session: AsyncSession, incident_id: int) -> StatusUpdate | None:
    """The approved public text that closed the incident: its first published public update
    with a closed status (the resolution, or a public follow-up of an internal one)."""
    stmt = (
        select(StatusUpdate)
        .where(
            StatusUpdate.incident_id == incident_id,
            StatusUpdate.state == "published",
            StatusUpdate.audience == "public",
            StatusUpdate.to_status.in_(CLOSED_STATUSES),
        )
        .order_by(StatusUpdate.published_at, StatusUpdate.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# --- the page revision --------------------------------------------------------------------


async def revision(session: AsyncSession) -> tuple[int, datetime | None]:
    """The page revision and when it last changed (0, None before any change)."""
    row = (
        await session.execute(select(StatusRevision).where(StatusRevision.id == 1))
    ).scalar_one_or_none()
    return (0, None) if row is None else (row.revision, row.changed_at)


async def bump_revision(session: AsyncSession) -> None:
    """Count one more change; the row lock also orders concurrent publishers."""
    now = utcnow()
    stmt = (
        update(StatusRevision)
        .where(StatusRevision.id == 1)
        .values(revision=StatusRevision.revision + 1, changed_at=now)
    )
    if (await session.execute(stmt)).rowcount:  # type: ignore[attr-defined]
        return
    dialect = (await session.connection()).dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(StatusRevision)
        .values(id=1, revision=0, changed_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    await session.execute(stmt)


# --- subscribers and feed tokens ----------------------------------------------------------


async def subscriber_by_email(session: AsyncSession, email: str) -> Subscriber | None:
    stmt = select(Subscriber).where(Subscriber.kind == "email", Subscriber.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_subscriber(session: AsyncSession, subscriber_id: int) -> Subscriber | None:
    return await session.get(Subscriber, subscriber_id)


async def subscribed_services(
    session: AsyncSession, subscriber_ids: Collection[int]
) -> dict[int, list[Service]]:
    found: dict[int, list[Service]] = defaultdict(list)
    if not subscriber_ids:
        return found
    rows = await session.execute(
        select(SubscriberService.subscriber_id, Service)
        .join(Service, Service.id == SubscriberService.service_id)
        .where(SubscriberService.subscriber_id.in_(subscriber_ids))
        .order_by(Service.name)
    )
    for subscriber_id, service in rows:
        found[subscriber_id].append(service)
    return found


async def replace_subscriptions(
    session: AsyncSession, *, subscriber_id: int, service_ids: Collection[int]
) -> None:
    await session.execute(
        delete(SubscriberService).where(SubscriberService.subscriber_id == subscriber_id)
    )
    session.add_all(
        SubscriberService(subscriber_id=subscriber_id, service_id=service_id)
        for service_id in sorted(set(service_ids))
    )
    await session.flush()


async def webhooks(session: AsyncSession) -> Sequence[Subscriber]:
    stmt = (
        select(Subscriber)
        .where(Subscriber.kind == "webhook", Subscriber.unsubscribed_at.is_(None))
        .order_by(Subscriber.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def webhooks_for_services(
    session: AsyncSession, service_ids: Collection[int]
) -> Sequence[tuple[Subscriber, int]]:
    """Active webhook subscribers of these services, with each service they subscribed to."""
    if not service_ids:
        return []
    stmt = (
        select(Subscriber, SubscriberService.service_id)
        .join(SubscriberService, SubscriberService.subscriber_id == Subscriber.id)
        .where(
            SubscriberService.service_id.in_(service_ids),
            Subscriber.kind == "webhook",
            Subscriber.confirmed_at.is_not(None),
            Subscriber.unsubscribed_at.is_(None),
        )
        .order_by(Subscriber.id, SubscriberService.service_id)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def feed_token_user_id(session: AsyncSession, token_hash: str) -> int | None:
    stmt = select(FeedToken.user_id).where(FeedToken.token_hash == token_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def replace_feed_token(session: AsyncSession, *, user_id: int, token_hash: str) -> None:
    await session.execute(delete(FeedToken).where(FeedToken.user_id == user_id))
    session.add(FeedToken(user_id=user_id, token_hash=token_hash))
    await session.flush()


@dataclass(frozen=True, slots=True)
class PastImpact:
    """An incident's mark on one service's history."""

    service_id: int
    impact: str
    started_at: datetime
    ended_at: datetime | None
    title: str  # the title employees and the public read


async def history_impacts(
    session: AsyncSession, audiences: Collection[str], *, since: datetime
) -> list[PastImpact]:
    """The marks of incidents told to these audiences that were active since `since`."""
    stmt = (
        select(
            IncidentService.service_id,
            IncidentService.impact,
            Incident.started_at,
            Incident.resolved_at,
            func.coalesce(Incident.public_title, Incident.title),
        )
        .join(Incident, Incident.id == IncidentService.incident_id)
        .where(
            _has_published(audiences),
            Incident.started_at.is_not(None),
            or_(Incident.resolved_at.is_(None), Incident.resolved_at >= since),
        )
        .order_by(Incident.started_at)
    )
    return [
        PastImpact(service_id, impact, started, ended, title)
        for service_id, impact, started, ended, title in await session.execute(stmt)
        if started is not None
    ]
