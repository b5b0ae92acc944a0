from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.permissions import Admin, Staff
from app.deps import Session
from app.kit.clock import as_utc, utcnow
from app.kit.errors import InvalidInput
from app.kit.ids import Id
from app.metrics import engagement, service, surveys
from app.metrics.schemas import SlaReport, SlaSettings
from connectors.base import NormalizedPriority

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

From = Annotated[datetime | None, Query(alias="from", description="default: 30 days ago")]
To = Annotated[datetime | None, Query(alias="to", description="default: now")]


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = as_utc(until) if until else utcnow()
    since = as_utc(since) if since else until - timedelta(days=30)
    if since >= until:
        raise InvalidInput("'from' must be before 'to'", code="invalid_range")
    if until - since > timedelta(days=366):
        raise InvalidInput("a report covers at most 366 days", code="invalid_range")
    return since, until


@router.get("/sla")
async def sla_report(
    session: Session,
    _staff: Staff,
    since: From = None,
    until: To = None,
    priority: NormalizedPriority | None = None,
    connector_id: Id | None = None,
) -> SlaReport:
    start, end = _range(since, until)
    figures = await service.ticket_figures(
        session, since=start, until=end, priority=priority, connector_id=connector_id
    )
    return service.summarize(figures, since=start, until=end)


@router.get("/sla/tickets.csv")
async def sla_csv(
    session: Session,
    _staff: Staff,
    since: From = None,
    until: To = None,
    priority: NormalizedPriority | None = None,
    connector_id: Id | None = None,
) -> Response:
    start, end = _range(since, until)
    figures = await service.ticket_figures(
        session, since=start, until=end, priority=priority, connector_id=connector_id
    )
    return Response(
        service.to_csv(figures),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="sla-tickets.csv"'},
    )


@router.get("/csat")
async def csat_report(
    session: Session, _staff: Staff, since: From = None, until: To = None
) -> surveys.CsatReport:
    """Response rate, score, daily series and comments of surveys sent in the range."""
    start, end = _range(since, until)
    return await surveys.report(session, since=start, until=end)


@router.get("/engagement")
async def engagement_report(
    session: Session, _staff: Staff, since: From = None, until: To = None
) -> engagement.Engagement:
    """Followers and chat per ticket, deliveries per channel, time to tell the requester."""
    start, end = _range(since, until)
    return await engagement.engagement(session, since=start, until=end)


@router.get("/sla/settings")
async def get_settings(session: Session, _staff: Staff) -> SlaSettings:
    return await service.current_settings(session)


@router.put("/sla/settings")
async def put_settings(body: SlaSettings, session: Session, admin: Admin) -> SlaSettings:
    await service.do_save_settings(session, settings=body, user=admin)
    return body
