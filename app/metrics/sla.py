"""Per-ticket SLA figures from a ticket's timeline. Pure: no database, no clock.

First response is the first public action by someone other than the requester: a
public comment, a public chat message, or a move to in progress (each source can be
switched off). Resolution is the resolution that stuck: after the last reopen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from app.metrics.calendar import BusinessCalendar

Clock = Literal["business", "calendar"]
ResponseSource = Literal["public_comment", "chat_message", "in_progress"]
RESOLVED = {"resolved", "closed"}
ALL_SOURCES: frozenset[ResponseSource] = frozenset(
    {"public_comment", "chat_message", "in_progress"}
)


@dataclass(frozen=True)
class Target:
    first_response_minutes: int
    resolution_minutes: int
    clock: Clock = "business"


@dataclass(frozen=True)
class Step:
    """One timeline entry, reduced to what the SLA needs."""

    at: datetime
    kind: str  # ticket.commented | chat.message | ticket.status_changed | ticket.resolved | ...
    public: bool
    by_requester: bool
    new_status: str | None = None


@dataclass(frozen=True)
class TicketSla:
    first_response_at: datetime | None
    first_response_seconds: float | None
    first_response_met: bool | None  # None: still within target, nothing to judge yet
    resolved_at: datetime | None
    resolution_seconds: float | None
    resolution_met: bool | None


def _is_response(step: Step, sources: frozenset[ResponseSource]) -> bool:
    if not step.public or step.by_requester:
        return False
    if step.kind == "ticket.commented":
        return "public_comment" in sources
    if step.kind == "chat.message":
        return "chat_message" in sources
    return "in_progress" in sources and step.new_status == "in_progress"


def resolved_at(steps: list[Step]) -> datetime | None:
    """When the ticket was resolved for good: the first resolution after the last reopen."""
    resolution: datetime | None = None
    for step in sorted(steps, key=lambda s: s.at):
        if step.new_status is None:
            continue
        # A reopen (any non-resolved status) starts the clock again.
        resolution = (resolution or step.at) if step.new_status in RESOLVED else None
    return resolution


def _judge(
    elapsed: float | None, deadline: datetime, limit_seconds: float, now: datetime
) -> bool | None:
    if elapsed is not None:
        return elapsed <= limit_seconds
    return False if now > deadline else None


def compute(
    *,
    opened_at: datetime,
    steps: list[Step],
    target: Target,
    calendar: BusinessCalendar,
    now: datetime,
    sources: frozenset[ResponseSource] = ALL_SOURCES,
) -> TicketSla:
    """The ticket's response and resolution figures against its priority's target."""

    def elapsed(end: datetime) -> float:
        if target.clock == "calendar":
            return max(0.0, (end - opened_at).total_seconds())
        return calendar.seconds_between(opened_at, end)

    def deadline(minutes: int) -> datetime:
        if target.clock == "calendar":
            return opened_at + timedelta(minutes=minutes)
        return calendar.add(opened_at, minutes * 60)

    responses = sorted(s.at for s in steps if _is_response(s, sources))
    first = responses[0] if responses else None
    resolution = resolved_at(steps)
    first_seconds = elapsed(first) if first else None
    resolution_seconds = elapsed(resolution) if resolution else None
    return TicketSla(
        first_response_at=first,
        first_response_seconds=first_seconds,
        first_response_met=_judge(
            first_seconds,
            deadline(target.first_response_minutes),
            target.first_response_minutes * 60,
            now,
        ),
        resolved_at=resolution,
        resolution_seconds=resolution_seconds,
        resolution_met=_judge(
            resolution_seconds,
            deadline(target.resolution_minutes),
            target.resolution_minutes * 60,
            now,
        ),
    )


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
