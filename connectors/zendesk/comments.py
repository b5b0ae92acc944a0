"""The marker Socialdesk appends to the comments it writes, so a retry finds the first.

Zendesk creates a comment by updating its ticket (contracts/zendesk/README.md § 3), whose
documented answer carries no comment id, and the contract documents no idempotency header.
So the key travels in the text as a last line, `— via Socialdesk [sd:<key>]`, the same
convention as the other connectors: a retry finds the first write by it, and ingestion
recognizes our own comments when they come back in a poll.
"""

from __future__ import annotations

import hashlib
import re

from connectors.zendesk.models import ZendeskComment

_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_MARKER = re.compile(r"\s*— via Socialdesk \[sd:([A-Za-z0-9._:-]{1,64})\]\s*$")


def marker_key(idempotency_key: str) -> str:
    """The key as written in the marker: itself when plain, else a digest of it."""
    if _KEY.fullmatch(idempotency_key):
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def marker(idempotency_key: str) -> str:
    """The marker line for one idempotency key."""
    return f"— via Socialdesk [sd:{marker_key(idempotency_key)}]"


def with_marker(body: str, idempotency_key: str) -> str:
    """The body as written to the ticket: the text, a blank line, the marker."""
    return f"{body.rstrip()}\n\n{marker(idempotency_key)}"


def split_marker(text: str) -> tuple[str, str | None]:
    """The text without a trailing marker, and the marker's key (None if there is none)."""
    found = _MARKER.search(text)
    if found is None:
        return text, None
    return text[: found.start()], found.group(1)


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
