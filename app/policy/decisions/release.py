"""What an approver's verdict does to the held decisions of an event.

Approved (`release_approved`, called by `app.policy.decisions.verdicts.do_decide_approval`
in the deciding transaction):

1. The event is read back by its key from the domain that stores it
   (`app.policy.decisions.sources.load_event`). Gone (its ticket or message deleted) or of a kind no
   domain loads: nothing is released, each held decision becomes `suppress` saying why,
   and the approval still succeeds (its `release` audit row tells the approver).
2. The audiences the held decisions were made for are resolved again as they are now, and
   each held decision passes the egress guard again with today's facts (the recipient's
   role, whether they may still see the ticket). Someone who left the audience, was
   deactivated or lost sight of the ticket since is not released (`suppress`, with the
   reason). Approval never widens who gets content, and only `hold` rows are read, so it
   never resurrects a decision the policy or the guard suppressed.
3. The rest become `send`, due at the moment of approval: the approver acted deliberately
   and expects it out now, so the rule's delay, digests and quiet hours are not applied a
   second time. An `approval` reason names the approver and the moment, so explain tells
   "held for approval ... approved by <name>". They go to `records.decision_listeners`
   (the outbox: one row per recipient x channel keyed by event, so a retry or a second
   approval can never send twice).

Rejected (`mark_rejected`): nothing is delivered; each held decision becomes `suppress`
with "rejected by <name> ...: <reason>".

The approver's own reason for an approval (an override) is staff text: it stays on the
approval request and its audit, and is never copied into the reasons a recipient may read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import ApprovalRequest, PolicyDecision, User
from app.policy import repository
from app.policy.decisions import records
from app.policy.decisions.audiences import resolve_recipients
from app.policy.decisions.judging import egress_checked
from app.policy.decisions.sources import SourcedEvent, UnknownEventKind, load_event
from app.policy.engine.document import Audience
from app.policy.engine.evaluator import Decision, Reason

log = logging.getLogger(__name__)


def _moment(request: ApprovalRequest) -> tuple[datetime, str]:
    at = request.decided_at or utcnow()
    return at, f"{at:%Y-%m-%d %H:%M} UTC"


async def _held(session: AsyncSession, event_key: str) -> list[PolicyDecision]:
    return [
        row
        for row in await repository.decisions_for_event(session, event_key)
        if row.outcome == "hold"
    ]


def _store(row: PolicyDecision, decision: Decision) -> None:
    row.outcome = decision.outcome
    row.deliver_at = decision.deliver_at
    row.reasons = records.reasons_json(decision.reasons)


def _suppress(row: PolicyDecision, *reasons: Reason) -> None:
    decision = records.decision_from_row(row)
    reasons = (*decision.reasons, *reasons)
    _store(row, replace(decision, outcome="suppress", deliver_at=None, reasons=reasons))


def _where(row: PolicyDecision) -> str:
    return f"{row.recipient_key} via {row.channel}"


async def release_approved(session: AsyncSession, request: ApprovalRequest, approver: User) -> str:
    """Release the approved event's held decisions; one sentence saying what went out."""
    at, _ = _moment(request)
    return await release_held(session, request.event_key, approver, at)


async def release_held(
    session: AsyncSession,
    event_key: str,
    approver: User,
    at: datetime,
    *,
    sourced: SourcedEvent | None = None,
) -> str:
    """Release an event's held decisions as approved by `approver` at `at` (see above).

    `sourced`: the event, when the caller has it (else it is read back by its key).
    """
    rows = await _held(session, event_key)
    if not rows:
        return "nothing was held for this event"
    approved = f"approved by {approver.name} on {at:%Y-%m-%d %H:%M} UTC"
    gone = "the event no longer exists (its ticket or message was deleted)"
    if sourced is None:
        try:
            sourced = await load_event(session, event_key)
        except UnknownEventKind:
            gone = "the service cannot read events of this kind back to send them"
    if sourced is None:
        for row in rows:
            _suppress(row, Reason("approval", False, f"{approved}, but not released: {gone}"))
        await session.flush()
        log.warning("approval of %s: nothing released: %s", event_key, gone)
        return f"released nothing: {gone}"
    event, scope = sourced.event, sourced.scope
    audiences = {cast(Audience, row.audience) for row in rows if row.audience}
    recipients = {r.key: r for r in await resolve_recipients(session, event, scope, audiences)}
    released: list[Decision] = []
    kept: list[str] = []
    for row in rows:
        recipient = recipients.get(row.recipient_key)
        if recipient is None or row.audience not in recipient.audiences:
            why = (
                f"{row.recipient_key} is no longer among the {row.audience} of this event"
                if row.audience
                else "the decision names no audience to check the recipient against"
            )
            _suppress(row, Reason("approval", False, f"{approved}, but not released: {why}"))
            kept.append(f"{_where(row)} ({why})")
            continue
        decision = records.decision_from_row(row)
        reasons = (
            *decision.reasons,
            Reason("approval", True, approved),
            Reason("timing", True, "released on approval: sent now"),
        )
        sent = replace(decision, outcome="send", deliver_at=at, reasons=reasons)
        checked = egress_checked(sent, recipient, event)
        _store(row, checked)
        if checked.outcome == "send":
            released.append(checked)
        else:
            kept.append(f"{_where(row)} ({checked.reasons[-1].sentence})")
    await session.flush()
    if released:
        for listener in records.decision_listeners:
            await listener(session, event, scope, released)
    return _summary(released, kept, len(rows))


def _summary(released: Sequence[Decision], kept: Sequence[str], held: int) -> str:
    said = f"released {len(released)} of {held} held message{'s' if held != 1 else ''}"
    return f"{said}; not released: {'; '.join(kept)}" if kept else said


async def mark_rejected(session: AsyncSession, request: ApprovalRequest, approver: User) -> None:
    """Suppress the rejected event's held decisions, saying who rejected them and why."""
    _, when = _moment(request)
    why = f": {request.reason}" if request.reason else ""
    for row in await _held(session, request.event_key):
        _suppress(row, Reason("approval", False, f"rejected by {approver.name} on {when}{why}"))
    await session.flush()
