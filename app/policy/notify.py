"""`notify_event`: the one entry point for every domain event that may tell someone something.

Chat, sync, notifications and status call it in the transaction of the data the event
describes. It resolves the audiences the active policy names for the event type, runs the
pure evaluator, records what would be redacted, checks every delivering decision against
the egress guard once more, stores one decision row per recipient x channel (idempotent:
the first decision for an event stands) and opens an approval request for held events.
What an approver then decides about held decisions is `app.policy.release`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.metrics.prometheus import POLICY_DECISIONS
from app.models import PolicyDecision, User
from app.policy import repository
from app.policy.approvals import do_request_approval
from app.policy.audiences import audiences_for, resolve_recipients
from app.policy.egress import (
    ContentVisibility,
    InternalContentLeak,
    destination_is_internal,
    guard_egress,
)
from app.policy.evaluator import Decision, PolicyEvent, Reason, Recipient, evaluate
from app.policy.redaction import Finding, redact
from app.policy.safety import STATUS_EVENTS
from app.policy.service import ActivePolicy, active_policy
from app.policy.sources import EventScope, SourcedEvent

log = logging.getLogger(__name__)

# Called once per event, after its decisions are stored, in the same transaction; the
# notifications domain turns decisions into outbox rows here (see app/wiring.py). Called
# again, in the approver's transaction, with the decisions an approval released (`send`).
DecisionListener = Callable[
    [AsyncSession, PolicyEvent, EventScope, list[Decision]], Awaitable[None]
]
decision_listeners: list[DecisionListener] = []


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
    from app.policy.release import release_held  # release builds on this module

    approver = await session.get(User, scope.approved_by_user_id)
    if approver is None:  # the approver's account is gone: ask for an approval instead
        await do_request_approval(
            session, event=event, scope=scope, held=held, policy_version_id=policy_version_id
        )
        return
    await release_held(
        session, event.key, approver, now, sourced=SourcedEvent(event=event, scope=scope)
    )


def judge(
    policy: ActivePolicy, event: PolicyEvent, recipients: list[Recipient], now: datetime
) -> list[Decision]:
    """The evaluator's decisions, with redaction findings and the egress guard applied."""
    by_key = {recipient.key: recipient for recipient in recipients}
    redactor = _Redactor(policy, event)
    return [
        egress_checked(redactor.attach(decision), by_key[decision.recipient_key], event)
        for decision in evaluate(policy.document, event, recipients, now)
    ]


class _Redactor:
    """What each delivering decision will have redacted, computed once per text x profile."""

    def __init__(self, policy: ActivePolicy, event: PolicyEvent) -> None:
        self.settings = policy.document.redaction
        self.event = event
        self.cache: dict[tuple[str, str], tuple[Finding, ...]] = {}

    def attach(self, decision: Decision) -> Decision:
        if decision.outcome == "suppress" or decision.redaction_profile == "none":
            return decision
        key = (decision.body_variant, decision.redaction_profile)
        if key not in self.cache:
            text = self._text(decision)
            found = redact(
                text,
                decision.redaction_profile,
                self.settings.internal_domains,
                self.settings.custom_patterns,
            )
            self.cache[key] = found.findings
        return replace(decision, redactions=self.cache[key]) if self.cache[key] else decision

    def _text(self, decision: Decision) -> str:
        event = self.event
        if event.type in STATUS_EVENTS and decision.body_variant == "public":
            return event.public_body or ""
        return event.body


def _content_visibility(event: PolicyEvent, decision: Decision) -> ContentVisibility:
    if decision.body_variant == "internal":
        return "internal"
    if event.type in STATUS_EVENTS:
        return event.audience or "internal"
    return "public" if event.visibility == "public" else "internal"


def egress_checked(decision: Decision, recipient: Recipient, event: PolicyEvent) -> Decision:
    # The evaluator already applied the invariants; this runs the egress guard's own code
    # over the same facts, so a bug in one is caught by the other before anything is stored.
    # Releasing an approved event runs it again with the recipient's facts at that moment.
    if decision.outcome == "suppress":
        return decision
    internal = destination_is_internal(
        decision.channel, recipient.role, marked_internal=recipient.internal_destination
    )
    try:
        guard_egress(
            _content_visibility(event, decision),
            recipient.role,
            internal,
            decision.audience,
            may_see_ticket=recipient.may_see_ticket,
            channel=decision.channel,
        )
    except InternalContentLeak as exc:
        log.error("egress guard refused a decision for %s: %s", event.key, exc.reason)
        refused = Reason("invariant", False, f"the egress guard refused it: {exc.reason}")
        return replace(
            decision, outcome="suppress", deliver_at=None, reasons=(*decision.reasons, refused)
        )
    return decision


_ReasonKey = tuple[Reason, ...]


def decision_row(
    decision: Decision,
    event: PolicyEvent,
    recipient: Recipient,
    policy_version_id: int,
    now: datetime,
) -> dict[str, Any]:
    """The `policy_decisions` row of one decision."""
    return {
        "event_key": decision.event_key,
        "event_type": event.type,
        "recipient_key": decision.recipient_key,
        "recipient_user_id": recipient.user_id,
        "channel": decision.channel,
        "outcome": decision.outcome,
        "rule_id": decision.rule_id,
        "audience": decision.audience,
        "body_variant": decision.body_variant,
        "redaction_profile": decision.redaction_profile,
        "deliver_at": decision.deliver_at,
        "reasons": reasons_json(decision.reasons),
        "redactions": findings_json(decision.redactions),
        "policy_version_id": policy_version_id,
        "created_at": now,
    }


def reasons_json(reasons: Iterable[Reason]) -> list[dict[str, Any]]:
    """Reasons as stored: {kind, matched, sentence}."""
    return [{"kind": r.kind, "matched": r.matched, "sentence": r.sentence} for r in reasons]


def findings_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Findings as stored: kind, label and span, never the matched text."""
    return [{"kind": f.kind, "label": f.label, "start": f.start, "end": f.end} for f in findings]


def decision_from_row(row: PolicyDecision) -> Decision:
    """A stored decision as the evaluator's dataclass."""
    return Decision(
        event_key=row.event_key,
        recipient_key=row.recipient_key,
        channel=cast(Any, row.channel),
        outcome=cast(Any, row.outcome),
        rule_id=row.rule_id,
        audience=cast(Any, row.audience),
        body_variant=cast(Any, row.body_variant),
        redaction_profile=cast(Any, row.redaction_profile),
        deliver_at=row.deliver_at,
        reasons=tuple(
            Reason(r["kind"], bool(r["matched"]), str(r["sentence"])) for r in row.reasons or []
        ),
        redactions=tuple(
            Finding(str(f["kind"]), int(f["start"]), int(f["end"]), str(f["label"]))
            for f in row.redactions or []
        ),
    )
