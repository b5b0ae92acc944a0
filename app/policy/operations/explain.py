"""Stored decisions told as sentences: what happened, by which rule, and every check made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.models import ApprovalRequest, PolicyDecision

_APPROVAL_STATES = {
    "pending": "it is waiting for an approver",
    "approved": "it was approved",
    "rejected": "it was rejected",
}


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def headline(decision: PolicyDecision) -> str:
    """One sentence: what was decided for this recipient on this channel."""
    who = decision.recipient_key + (f" ({decision.audience})" if decision.audience else "")
    via = f"via {decision.channel}"
    outcome = decision.outcome
    if outcome == "send":
        said = f"Sent to {who} {via}"
    elif outcome == "delay":
        said = f"Delayed for {who} {via} until {_when(decision.deliver_at)}"
    elif outcome == "digest":
        said = f"Kept for {who}'s digest {via}, due {_when(decision.deliver_at)}"
    elif outcome == "hold":
        said = f"Held for approval before reaching {who} {via}"
    else:
        said = f"Not sent to {who} {via}"
    rule = f", by rule '{decision.rule_id}'" if decision.rule_id else ""
    return f"{said}{rule}."


def explanation_lines(
    decision: PolicyDecision,
    *,
    policy_version: int | None,
    approval: ApprovalRequest | None = None,
) -> list[str]:
    """The headline, then every check in order (yes/no), redactions and approval state."""
    lines = [headline(decision)]
    if policy_version is not None:
        lines.append(f"Decided by policy version {policy_version} for {decision.event_type}.")
    for reason in decision.reasons or []:
        lines.append(f"{'yes' if reason.get('matched') else 'no'}: {reason.get('sentence', '')}")
    if decision.outcome != "suppress":
        lines.append(f"Body: the {decision.body_variant} text.")
        lines.append(_redaction_line(decision.redaction_profile, decision.redactions or []))
    if approval is not None:
        state = _APPROVAL_STATES.get(approval.status, approval.status)
        extra = f": {approval.reason}" if approval.reason else ""
        lines.append(f"Approval #{approval.id}: {state}{extra}.")
    return lines


def _redaction_line(profile: str, findings: list[dict[str, Any]]) -> str:
    if profile == "none":
        return "Redaction: none (a staff destination)."
    if not findings:
        return f"Redaction: {profile} profile; nothing to redact."
    labels = sorted({f"{f.get('label')} ({f.get('kind')})" for f in findings})
    return f"Redaction: {profile} profile; replaces {', '.join(labels)}."
