"""Stored decisions: the `policy_decisions` row of a decision and back, and who hears of them.

A leaf of the decisions room: notify writes rows, release rewrites them, explain and
simulate read them, and the notifications domain listens through `decision_listeners`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PolicyDecision
from app.policy.decisions.sources import EventScope
from app.policy.engine.evaluator import Decision, PolicyEvent, Reason, Recipient
from app.policy.guard.redaction import Finding

# Called once per event, after its decisions are stored, in the same transaction; the
# notifications domain turns decisions into outbox rows here (see app/wiring.py). Called
# again, in the approver's transaction, with the decisions an approval released (`send`).
DecisionListener = Callable[
    [AsyncSession, PolicyEvent, EventScope, list[Decision]], Awaitable[None]
]
decision_listeners: list[DecisionListener] = []


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
