"""Redmine's default statuses and priorities mapped to Socialdesk's normalized values.

Names are Redmine's default data (`redmine:load_default_data`, English). Admins can
override statuses per instance (`status_map.<name>=<normalized>`); a status that is in
neither table counts as `closed` when Redmine flags it `is_closed`, else `open`.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import NormalizedPriority, NormalizedStatus

STATUS_MAP: Mapping[str, NormalizedStatus] = {
    "New": "new",
    "In Progress": "in_progress",
    "Resolved": "resolved",
    "Feedback": "pending",  # waiting for the requester's answer
    "Closed": "closed",
    "Rejected": "closed",
}

PRIORITY_MAP: Mapping[str, NormalizedPriority] = {
    "Immediate": "P1",
    "Urgent": "P1",
    "High": "P2",
    "Normal": "P3",
    "Low": "P4",
}

# Normalized statuses after which a ticket counts as done: entering one is a resolution,
# leaving one for any other status is a reopening.
