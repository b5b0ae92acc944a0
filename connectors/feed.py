"""The page of changes a polling connector fills in one `changes_since` call.

ServiceNow, Jira SM, Zendesk and Freshservice each emit a ticket's unseen changes as a
whole or not at all (their `poll.py`), so a ticket whose changes do not fit is left for
the next page: `fits` says whether they do, `full` when to stop listing.
"""

from __future__ import annotations

from connectors.base import TicketChange

MAX_CHANGES = 100  # per page, as the sync engine commits a page in one transaction


class Page:
    def __init__(self) -> None:
        self.changes: list[TicketChange] = []
        self.notes: list[str] = []

    @property
    def full(self) -> bool:
        return len(self.changes) >= MAX_CHANGES

    def fits(self, count: int) -> bool:
        # An empty page takes a ticket whatever its size, so one busy ticket cannot stall.
        return not self.changes or len(self.changes) + count <= MAX_CHANGES
