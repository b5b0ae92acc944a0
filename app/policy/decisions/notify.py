"""`notify_event`: the one entry point for every domain event that may tell someone something.

Chat, sync, notifications and status call it in the transaction of the data the event
describes. It resolves the audiences the active policy names for the event type, runs the
pure evaluator, records what would be redacted, checks every delivering decision against
the egress guard once more, stores one decision row per recipient x channel (idempotent:
the first decision for an event stands) and opens an approval request for held events.
What an approver then decides about held decisions is `app.policy.decisions.release`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.metrics.prometheus import POLICY_DECISIONS
from app.models import User
from app.policy import repository
from app.policy.decisions.approvals import do_request_approval
from app.policy.decisions.audiences import audiences_for, resolve_recipients
from app.policy.decisions.judging import judge
from app.policy.decisions.records import decision_from_row, decision_listeners, decision_row
from app.policy.decisions.release import release_held
from app.policy.decisions.sources import EventScope, SourcedEvent
from app.policy.engine.evaluator import Decision, PolicyEvent
from app.policy.service import ActivePolicy, active_policy

log = logging.getLogger(__name__)


async def notify_event(
    session: AsyncSession,
    event: PolicyEvent,
    scope: EventScope | None = None,
    *,
    policy: ActivePolicy | None = None,
) -> list[Decision]:
    """Decide, store and return every recipient x channel of one event; replays change nothing."""
    if await repository.event_has_decisions(session, event.key):
        return [
            decision_from_row(row)
            for row in await repository.decisions_for_event(session, event.key)
        ]
    scope = scope or EventScope()
    active = policy or await active_policy(session)
    audiences = audiences_for(active.document, event.type)
    recipients = await resolve_recipients(session, event, scope, audiences)
    now = utcnow()
    decisions = judge(active, event, recipients, now)
    by_key = {recipient.key: recipient for recipient in recipients}
    rows = [
        decision_row(d, event, by_key[d.recipient_key], active.version_id, now) for d in decisions
    ]
    await repository.insert_decisions(session, rows)
    for decision in decisions:
        POLICY_DECISIONS.labels(outcome=decision.outcome).inc()
    held = [decision for decision in decisions if decision.outcome == "hold"]
    if held and scope.approved_by_user_id is None:
        await do_request_approval(
            session, event=event, scope=scope, held=held, policy_version_id=active.version_id
        )
    for listener in decision_listeners:
        await listener(session, event, scope, decisions)
    if held and scope.approved_by_user_id is not None:
        # A person already approved this content in its own domain (the status desk's
        # two-person rule): what a rule held for approval goes out now, as approved by
        # them, instead of waiting for an approval request that is never opened.
        await _release_preapproved(session, event, scope, held, active.version_id, now)
    return decisions


async def _release_preapproved(
    session: AsyncSession,
    event: PolicyEvent,
    scope: EventScope,
    held: list[Decision],
    policy_version_id: int,
    now: datetime,
) -> None:
    approver = await session.get(User, scope.approved_by_user_id)
    if approver is None:  # the approver's account is gone: ask for an approval instead
        await do_request_approval(
            session, event=event, scope=scope, held=held, policy_version_id=policy_version_id
        )
        return
    await release_held(
        session, event.key, approver, now, sourced=SourcedEvent(event=event, scope=scope)
    )
