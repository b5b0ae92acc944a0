"""Freshservice ticket statuses and priorities mapped to Socialdesk's normalized values.

contracts/freshservice/README.md § 5, the official "Ticket Properties" tables: status
Open 2, Pending 3, Resolved 4, Closed 5; priority Low 1, Medium 2, High 3, Urgent 4. Both
arrive as integers and are kept raw as their decimal text, so `status_map.<value>=…`
overrides work for custom statuses too (their values were not covered by the contract).

Freshservice has no status for a ticket nobody has picked up yet: an Open ticket without a
responder is reported with the raw status `2/unassigned`, normalized `new`, so "new" means
the same here as for the other kinds (`status_map.2/unassigned=open` turns this off).
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import NormalizedPriority, NormalizedStatus

OPEN = 2
UNASSIGNED = "2/unassigned"

STATUS_NAMES: Mapping[int, str] = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}

STATUS_MAP: Mapping[str, NormalizedStatus] = {
    UNASSIGNED: "new",  # Open, no responder yet (see above)
    "2": "open",
    "3": "pending",
    "4": "resolved",
    "5": "closed",
}

PRIORITY_NAMES: Mapping[int, str] = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}

PRIORITY_MAP: Mapping[str, NormalizedPriority] = {
    "4": "P1",  # Urgent
    "3": "P2",  # High
    "2": "P3",  # Medium
    "1": "P4",  # Low
}

# Normalized statuses after which a ticket counts as done: entering one is a resolution,
# leaving one for any other status is a reopening.


def raw_status(status: int, responder_id: int | None) -> str:
    """The raw status as Socialdesk keeps it: the value, or `2/unassigned`."""
    if status == OPEN and responder_id is None:
        return UNASSIGNED
    return str(status)
