"""The marker Socialdesk appends to the messages it writes, so a retry finds the first write.

RT returns no id for a new reply or comment and offers no idempotency header, so
the idempotency key travels in the message itself as a last line: `— via Socialdesk [sd:<key>]`.
It also lets ingestion tell our own messages apart when they come back in a poll.
"""

from __future__ import annotations

from connectors.marker import has_marker, marker, split_marker, with_marker

# The marker itself is shared (connectors/marker.py); importers read it from here.
__all__ = ["has_marker", "marker", "split_marker", "with_marker"]
