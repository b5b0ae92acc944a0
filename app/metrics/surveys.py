"""Satisfaction (CSAT) surveys: asked after a resolution, answered once by a signed link.

A resolution of a ticket with a known requester opens one survey (keyed by the resolution
event, so replays open none) and raises `survey.requested`, which the communications policy
decides like any other event: the requester gets the link by e-mail and in-app.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.errors import AppError, Conflict, NotFound
from app.kit.signing import BadToken, Signer
from app.models import Ticket
from app.models.metrics import Survey
from app.policy.decisions.notify import notify_event
from app.policy.decisions.sources import EventScope
from app.policy.engine.evaluator import Decision, PolicyEvent

PURPOSE = "survey"
TTL = timedelta(days=14)
QUESTION = "How did we do? Rate our help from 1 (poor) to 5 (great); it takes one click."


class SurveyExpired(AppError):
    status_code, code = 410, "survey_expired"


def survey_link(
    signer: Signer, base_url: str, *, survey_id: int, user_id: int, now: datetime
) -> str:
    token = signer.sign({"s": survey_id, "u": user_id}, now=now, ttl=TTL)
    return f"{base_url.rstrip('/')}/survey/{token}"


async def request_on_resolution(
    session: AsyncSession, event: PolicyEvent, scope: EventScope, decisions: Sequence[Decision]
) -> None:
    """Decision listener: a resolved ticket asks its requester how it went (once)."""
    if event.type != "ticket.resolved" or scope.ticket_id is None:
        return
    ticket = await session.get(Ticket, scope.ticket_id)
    if ticket is None or ticket.requester_user_id is None:
        return
    theirs = [d for d in decisions if d.recipient_key == f"user:{ticket.requester_user_id}"]
    if theirs and all(d.outcome == "hold" for d in theirs):
        # The requester has not been told yet: the resolution waits for an approver. The
        # survey is asked when it is released (this listener runs again), never if rejected.
        return
    exists = await session.scalar(select(Survey.id).where(Survey.resolution_key == event.key))
    if exists is not None:
        return
    survey = Survey(
        ticket_id=ticket.id,
        user_id=ticket.requester_user_id,
        resolution_key=event.key,
        expires_at=utcnow() + TTL,
    )
    session.add(survey)
    await session.flush()
    request = PolicyEvent(
        key=f"survey:{survey.id}",
        type="survey.requested",
        visibility="public",
        occurred_at=event.occurred_at,
        ticket=event.ticket,
        body=QUESTION,
    )
    await notify_event(session, request, scope)


async def check_token(
    session: AsyncSession, signer: Signer, token: str, *, now: datetime
) -> Survey:
    """The survey a link points at; forged or foreign links look like missing ones."""
    try:
        claims = signer.verify(token, now=now)
    except BadToken as exc:
        if "expired" in str(exc):
            raise SurveyExpired("this survey link has expired") from exc
        raise NotFound("this survey link is not valid") from exc
    survey = await session.get(Survey, int(claims.get("s", 0)))
    if survey is None or survey.user_id != claims.get("u"):
        raise NotFound("this survey link is not valid")
    return survey


async def do_answer(
    session: AsyncSession, *, survey: Survey, rating: int, comment: str | None, now: datetime
) -> Survey:
    """Record the rating; a survey is answered once and not after it expires."""
    if survey.answered_at is not None:
        raise Conflict("this survey was already answered, thank you", code="already_answered")
    if survey.expires_at < now:
        raise SurveyExpired("this survey has expired")
    survey.rating = rating
    survey.comment = (comment or "").strip()[:2000] or None
    survey.answered_at = now
    await session.flush()
    return survey


class CsatDay(BaseModel):
    date: date
    answered: int
    average: float | None


class CsatComment(BaseModel):
    ticket_id: int
    rating: int
    comment: str
    answered_at: datetime


class CsatReport(BaseModel):
    since: datetime
    until: datetime
    surveys: int
    answered: int
    response_rate: float | None
    average: float | None
    satisfied_share: float | None  # ratings of 4 or 5
    daily: list[CsatDay]
    comments: list[CsatComment]


async def report(session: AsyncSession, *, since: datetime, until: datetime) -> CsatReport:
    """Response rate, score and a daily series for surveys sent in [since, until)."""
    rows = (
        (
            await session.execute(
                select(Survey).where(Survey.created_at >= since, Survey.created_at < until)
            )
        )
        .scalars()
        .all()
    )
    answered = [s for s in rows if s.rating is not None and s.answered_at is not None]
    days: dict[date, list[int]] = defaultdict(list)
    for s in answered:
        if s.answered_at is not None and s.rating is not None:
            days[s.answered_at.date()].append(s.rating)
    ratings = [s.rating for s in answered if s.rating is not None]
    return CsatReport(
        since=since,
        until=until,
        surveys=len(rows),
        answered=len(answered),
        response_rate=round(len(answered) / len(rows), 4) if rows else None,
        average=round(sum(ratings) / len(ratings), 2) if ratings else None,
        satisfied_share=(
            round(sum(1 for r in ratings if r >= 4) / len(ratings), 4) if ratings else None
        ),
        daily=[
            CsatDay(date=d, answered=len(r), average=round(sum(r) / len(r), 2))
            for d, r in sorted(days.items())
        ],
        comments=[
            CsatComment(
                ticket_id=s.ticket_id, rating=s.rating, comment=s.comment, answered_at=s.answered_at
            )
            for s in answered
            if s.comment and s.rating is not None and s.answered_at
        ],
    )
