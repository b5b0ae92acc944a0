"""The communications policy: document, pure evaluator, redaction and the egress guard."""

from app.policy.engine.document import PolicyDocument, load_default_policy, parse_policy
from app.policy.engine.errors import PolicyError, PolicyIssue
from app.policy.engine.evaluator import (
    Actor,
    Decision,
    PolicyEvent,
    Reason,
    Recipient,
    TicketFacts,
    evaluate,
)
from app.policy.engine.schedule import Preferences, QuietHours
from app.policy.guard.egress import InternalContentLeak, destination_is_internal, guard_egress
from app.policy.guard.redaction import Finding, RedactionResult, must_hold_for_approval, redact

__all__ = [
    "Actor",
    "Decision",
    "Finding",
    "InternalContentLeak",
    "PolicyDocument",
    "PolicyError",
    "PolicyEvent",
    "PolicyIssue",
    "Preferences",
    "QuietHours",
    "Reason",
    "Recipient",
    "RedactionResult",
    "TicketFacts",
    "destination_is_internal",
    "evaluate",
    "guard_egress",
    "load_default_policy",
    "must_hold_for_approval",
    "parse_policy",
    "redact",
]
