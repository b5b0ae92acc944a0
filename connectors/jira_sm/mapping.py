"""Jira statuses and priorities mapped to Socialdesk's normalized values.

Jira has no fixed status list, only a fixed `statusCategory` per status (contracts/jira-sm/
README.md § 5). A status is normalized by, in order: the instance's `status_map.` override
(by name or id); the name, for the statuses of Jira Service Management's default workflows
whose category cannot tell (waiting, closed, canceled); then its category.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import NormalizedPriority, NormalizedStatus

# Status names of JSM's shipped workflows (product defaults, not in the contract notes).
STATUS_MAP: Mapping[str, NormalizedStatus] = {
    "Open": "new",
    "To Do": "new",
    "Waiting for support": "open",
    "Work in progress": "in_progress",
    "In Progress": "in_progress",
    "Escalated": "in_progress",
    "Waiting for customer": "pending",
    "Pending": "pending",
    "Waiting for approval": "pending",
    "Awaiting approval": "pending",
    "Resolved": "resolved",
    "Done": "resolved",
    "Completed": "resolved",
    "Closed": "closed",
    "Canceled": "closed",
    "Cancelled": "closed",
    "Declined": "closed",
}

# statusCategory keys: `new`, `indeterminate`, `done` are Jira's; the contract's examples
# (§ 5) show `in-flight` and `completed`, so both spellings are read.
CATEGORY_MAP: Mapping[str, NormalizedStatus] = {
    "new": "new",
    "indeterminate": "in_progress",
    "in-flight": "in_progress",
    "done": "resolved",
    "completed": "resolved",
}

# Jira's default priority scheme (Highest … Lowest) and the older one (Blocker … Trivial).
PRIORITY_MAP: Mapping[str, NormalizedPriority] = {
    "Highest": "P1",
    "Blocker": "P1",
    "Critical": "P1",
    "High": "P2",
    "Major": "P2",
    "Medium": "P3",
    "Low": "P4",
    "Lowest": "P4",
    "Minor": "P4",
    "Trivial": "P4",
}

# Normalized statuses after which a ticket counts as done: entering one is a resolution,
# leaving one for any other status is a reopening.
