"""The marker Socialdesk appends to the notes it writes, so a retry finds the first write.

Redmine returns no id for a new note (204, empty body) and offers no idempotency header, so
the idempotency key travels in the note itself as a last line: `— via Socialdesk [sd:<key>]`.
It also lets ingestion tell our own notes apart when they come back in a poll.
"""

from __future__ import annotations

from connectors.marker import has_marker, marker, split_marker, with_marker

# The marker itself is shared (connectors/marker.py); importers read it from here.
__all__ = ["has_marker", "marker", "split_marker", "with_marker"]
