"""The marker Socialdesk appends to the comments it writes: `— via Socialdesk [sd:<key>]`.

None of the desks takes an idempotency key for a comment, and several answer a write
without the new comment's id, so the key travels in the text itself as a last line. A
retry finds the first write by it, and ingestion recognizes our own comments when they
come back in a poll. Every connector writes the same marker, so a ticket moved between
desks (or a connector rewritten) still recognizes its history. Each connector's
`comments.py` says where the marker sits in its vendor's comment and how it is read back.
"""

from __future__ import annotations

import hashlib
import re

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


def has_marker(text: str | None, idempotency_key: str) -> bool:
    """Whether `text` ends with the marker of this idempotency key."""
    return text is not None and split_marker(text)[1] == marker_key(idempotency_key)
