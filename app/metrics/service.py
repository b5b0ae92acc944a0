"""SLA figures per ticket and for a period; the settings admins edit."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.metrics import repository
from app.metrics.schemas import DailyPoint, Percentiles, SlaReport, SlaSettings
from app.metrics.sla import TicketSla, compute, percentile
from app.models import Ticket, User
from app.models.metrics import SlaConfig


async def current_settings(session: AsyncSession) -> SlaSettings:
    """The settings in force; the shipped defaults until an admin saves some."""
    row = await repository.latest_config(session)
    return SlaSettings() if row is None else SlaSettings.model_validate(row.config)


async def do_save_settings(session: AsyncSession, *, settings: SlaSettings, user: User) -> None:
    session.add(SlaConfig(config=settings.model_dump(mode="json"), created_by=user.id))
    await session.flush()


@dataclass(frozen=True)
class TicketFigures:
    ticket: Ticket
    sla: TicketSla | None  # None: no target for the ticket's priority


async def ticket_figures(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    priority: str | None = None,
    connector_id: int | None = None,
    now: datetime | None = None,
) -> list[TicketFigures]:
    """Every ticket opened in [since, until) with its SLA figures."""
    settings = await current_settings(session)
    calendar = settings.calendar.calendar()
    sources = frozenset(settings.first_response_sources)
    tickets = await repository.tickets_opened(
        session, since=since, until=until, priority=priority, connector_id=connector_id
    )
    steps = await repository.ticket_steps(session, tickets)
    now = now or utcnow()
    figures = []
    for ticket in tickets:
        target = settings.target(ticket.priority)
        sla = None
        if target is not None:
            sla = compute(
                opened_at=ticket.opened_at,
                steps=steps.get(ticket.id, []),
                target=target,
                calendar=calendar,
                now=now,
                sources=sources,
            )
        figures.append(TicketFigures(ticket, sla))
    return figures


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _percentiles(values: list[float]) -> Percentiles:
    return Percentiles(
        p50=percentile(values, 50), p90=percentile(values, 90), p99=percentile(values, 99)
    )


def summarize(figures: Sequence[TicketFigures], *, since: datetime, until: datetime) -> SlaReport:
    """The period's shares, percentiles and daily series (by the day tickets opened, UTC)."""
    judged = [f.sla for f in figures if f.sla and f.sla.first_response_met is not None]
    resolved = [f.sla for f in figures if f.sla and f.sla.resolution_met is not None]
    days: dict[date, list[bool]] = defaultdict(list)
    for f in figures:
        if f.sla and f.sla.first_response_met is not None:
            days[f.ticket.opened_at.date()].append(f.sla.first_response_met)
    acted = sum(1 for s in judged if s.first_response_met)
    resolved_ok = sum(1 for s in resolved if s.resolution_met)
    return SlaReport(
        since=since,
        until=until,
        tickets=len(figures),
        judged=len(judged),
        acted_within_sla=acted,
        share_acted_within_sla=_share(acted, len(judged)),
        resolution_judged=len(resolved),
        resolved_within_sla=resolved_ok,
        share_resolved_within_sla=_share(resolved_ok, len(resolved)),
        first_response_seconds=_percentiles(
            [
                f.sla.first_response_seconds
                for f in figures
                if f.sla and f.sla.first_response_seconds is not None
            ]
        ),
        resolution_seconds=_percentiles(
            [
                f.sla.resolution_seconds
                for f in figures
                if f.sla and f.sla.resolution_seconds is not None
            ]
        ),
        daily=[
            DailyPoint(
                date=day,
                tickets=len(results),
                responded_within_sla=sum(results),
                share_within_sla=_share(sum(results), len(results)),
            )
            for day, results in sorted(days.items())
        ],
    )


CSV_COLUMNS = (
    "ticket_id",
    "connector_id",
    "external_id",
    "priority",
    "status",
    "opened_at",
    "first_response_at",
    "first_response_seconds",
    "first_response_met",
    "resolved_at",
    "resolution_seconds",
    "resolution_met",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.0f}"
    text = str(value)
    # A cell starting with = + - @ is a formula to spreadsheet software: neutralize it.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_csv(figures: Sequence[TicketFigures]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for f in figures:
        s = f.sla
        writer.writerow(
            _cell(v)
            for v in (
                f.ticket.id,
                f.ticket.connector_id,
                f.ticket.external_id,
                f.ticket.priority,
                f.ticket.status,
                f.ticket.opened_at,
                s and s.first_response_at,
                s and s.first_response_seconds,
                s and s.first_response_met,
                s and s.resolved_at,
                s and s.resolution_seconds,
                s and s.resolution_met,
            )
        )
    return out.getvalue()
