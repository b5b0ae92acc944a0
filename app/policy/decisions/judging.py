"""Judging one event: the evaluator's decisions with redaction findings and the egress guard.

Pure apart from logging: `notify_event` stores what this returns, simulation shows it,
and releasing an approval runs `egress_checked` again with the recipient's facts then.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from app.policy.engine.evaluator import Decision, PolicyEvent, Reason, Recipient, evaluate
from app.policy.engine.safety import STATUS_EVENTS
from app.policy.guard.egress import (
    ContentVisibility,
    InternalContentLeak,
    destination_is_internal,
    guard_egress,
)
from app.policy.guard.redaction import Finding, redact
from app.policy.service import ActivePolicy

log = logging.getLogger(__name__)


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
