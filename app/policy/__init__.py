"""The communications policy: document, pure evaluator, redaction and the egress guard."""

from app.policy.document import PolicyDocument, load_default_policy, parse_policy
from app.policy.egress import InternalContentLeak, destination_is_internal, guard_egress
from app.policy.errors import PolicyError, PolicyIssue
from app.policy.evaluator import (
    Actor,
    Decision,
    PolicyEvent,
    Reason,
    Recipient,
    TicketFacts,
    evaluate,
)
from app.policy.redaction import Finding, RedactionResult, must_hold_for_approval, redact
from app.policy.schedule import Preferences, QuietHours

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
