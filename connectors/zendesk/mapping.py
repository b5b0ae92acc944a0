"""Zendesk ticket statuses and priorities mapped to Socialdesk's normalized values.

Statuses: contracts/zendesk/README.md § 5 — `new`, `open`, `pending`, `hold`, `solved`,
`closed` (closed is terminal: a closed ticket cannot be reopened). `deleted` is how the
incremental export is taken to report a deleted ticket (§ 1a says deletions appear in the
stream, not how; ASSUMED). Priorities: `urgent`, `high`, `normal`, `low`, or none.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import NormalizedPriority, NormalizedStatus

STATUS_MAP: Mapping[str, NormalizedStatus] = {
    "new": "new",
    "open": "open",
    "pending": "pending",  # waiting for the requester
    "hold": "pending",  # On-hold: waiting for a third party
    "solved": "resolved",
    "closed": "closed",
    "deleted": "closed",  # ASSUMED (see above)
}

PRIORITY_MAP: Mapping[str, NormalizedPriority] = {
    "urgent": "P1",
    "high": "P2",
    "normal": "P3",
    "low": "P4",
}

# Normalized statuses after which a ticket counts as done: entering one is a resolution,
# leaving one for any other status is a reopening.
# Raw statuses after which nothing changes on the ticket any more (§ 5).
TERMINAL = frozenset({"closed", "deleted"})
