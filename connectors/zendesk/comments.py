"""The marker Socialdesk appends to the comments it writes, so a retry finds the first.

Zendesk creates a comment by updating its ticket (contracts/zendesk/README.md § 3), whose
documented answer carries no comment id, and the contract documents no idempotency header.
So the key travels in the text as a last line, `— via Socialdesk [sd:<key>]`, the same
convention as the other connectors: a retry finds the first write by it, and ingestion
recognizes our own comments when they come back in a poll.
"""

from __future__ import annotations

from connectors.marker import marker, marker_key, split_marker, with_marker
from connectors.zendesk.models import ZendeskComment

# The marker itself is shared (connectors/marker.py); importers read it from here.
__all__ = ["comment_key", "marker", "marker_key", "newest_marked", "split_marker", "with_marker"]


def comment_key(comment: ZendeskComment) -> str | None:
    """The marker's key in `body`, else in `plain_body` (should Zendesk render the body)."""
    for text in (comment.body, comment.plain_body or ""):
        key = split_marker(text)[1]
        if key is not None:
            return key
    return None


def newest_marked(comments: list[ZendeskComment], idempotency_key: str) -> ZendeskComment | None:
    """The newest comment that ends with this key's marker, whoever wrote it."""
    wanted = marker_key(idempotency_key)
    marked = [c for c in comments if comment_key(c) == wanted]
    return max(marked, key=lambda c: (c.created_at, c.id)) if marked else None
