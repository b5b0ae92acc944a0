"""ServiceNow incident states and priorities mapped to Socialdesk's normalized values.

States are the Incident Management state model (contracts/servicenow/README.md § 5,
KB0564465): the new model's values 1, 2, 3, 6, 7, 8, and the old model's 4 and 5 that
upgraded instances may still use. Other tables (problem, sc_req_item, …) number their
states differently: for them an admin sets `status_map.<value>` overrides, and a record
ServiceNow reports `active=false` counts as `closed` when no override names its state.

Priorities 1 to 5 are ServiceNow's (1 is the most urgent). When a record has none, impact and
urgency give it through ServiceNow's default priority lookup (below; that matrix is the
product's default data, not part of the contract notes).
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import NormalizedPriority, NormalizedStatus

STATUS_MAP: Mapping[str, NormalizedStatus] = {
    "1": "new",  # New: logged but not yet triaged
    "2": "in_progress",  # In Progress (old model: Active)
    "3": "pending",  # On Hold (old model: Awaiting Problem)
    "4": "pending",  # old model: Awaiting User Info
    "5": "pending",  # old model: Awaiting Evidence
    "6": "resolved",
    "7": "closed",
    "8": "closed",  # Canceled
}

STATE_LABELS: Mapping[str, str] = {
    "1": "New",
    "2": "In Progress",
    "3": "On Hold",
    "4": "Awaiting User Info",
    "5": "Awaiting Evidence",
    "6": "Resolved",
    "7": "Closed",
    "8": "Canceled",
}

PRIORITY_MAP: Mapping[str, NormalizedPriority] = {
    "1": "P1",  # Critical
    "2": "P2",  # High
    "3": "P3",  # Moderate
    "4": "P4",  # Low
    "5": "P4",  # Planning
}

# (impact, urgency) → priority, ServiceNow's default Priority Data Lookup (1 = high).
PRIORITY_LOOKUP: Mapping[tuple[str, str], str] = {
    ("1", "1"): "1",
    ("1", "2"): "2",
    ("2", "1"): "2",
    ("1", "3"): "3",
    ("2", "2"): "3",
    ("3", "1"): "3",
    ("2", "3"): "4",
    ("3", "2"): "4",
    ("3", "3"): "5",
}

# Normalized statuses after which a ticket counts as done: entering one is a resolution,
# leaving one for any other status is a reopening.


def effective_priority(priority: str, impact: str, urgency: str) -> str:
    """The record's priority, else the one its impact and urgency give (else "")."""
    if priority in PRIORITY_MAP:
        return priority
    return PRIORITY_LOOKUP.get((impact, urgency), priority)
