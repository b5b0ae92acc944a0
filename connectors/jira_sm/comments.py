"""The marker Socialdesk appends to the comments it writes, so a retry finds the first.

The servicedeskapi takes no idempotency header (contracts/jira-sm/README.md § 3b), so the
idempotency key travels in the text as a last line, `— via Socialdesk [sd:<key>]`, the same
convention as the Redmine, RT and ServiceNow connectors: a retry finds the first write by
it, and ingestion recognizes our own comments when they come back in a poll.
"""

from __future__ import annotations

from connectors.jira_sm.models import RequestComment
from connectors.marker import marker, marker_key, split_marker, with_marker

# The marker itself is shared (connectors/marker.py); importers read it from here.
__all__ = ["marker", "marker_key", "newest_marked", "split_marker", "with_marker"]


def newest_marked(comments: list[RequestComment], idempotency_key: str) -> RequestComment | None:
    """The last comment that ends with this key's marker, whoever wrote it."""
    wanted = marker_key(idempotency_key)
    for comment in reversed(comments):
        if split_marker(comment.body)[1] == wanted:
            return comment
    return None
