"""The marker Socialdesk appends to the journal entries it writes, so a retry finds the first.

ServiceNow takes no idempotency header, and a journal write (a PATCH of `comments` or
`work_notes`, contracts/servicenow/README.md § 3) answers with the record, not with the id
of the `sys_journal_field` row it created. So the idempotency key travels in the text as
a last line, `— via Socialdesk [sd:<key>]`, the same convention as the Redmine and RT
connectors: a retry finds the first write by it, and ingestion recognizes our own entries
when they come back in a poll.
"""

from __future__ import annotations

from connectors.marker import has_marker, marker, split_marker, with_marker
from connectors.servicenow.models import JournalEntry

# The marker itself is shared (connectors/marker.py); importers read it from here.
__all__ = ["has_marker", "marker", "newest_marked", "split_marker", "with_marker"]


def newest_marked(entries: list[JournalEntry], idempotency_key: str) -> JournalEntry | None:
    """The last entry that ends with this key's marker, whoever wrote it."""
    for entry in reversed(entries):
        if has_marker(entry.value, idempotency_key):
            return entry
    return None
