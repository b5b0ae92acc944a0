"""The marker Socialdesk appends to the journal entries it writes, so a retry finds the first.

ServiceNow takes no idempotency header, and a journal write (a PATCH of `comments` or
`work_notes`, contracts/servicenow/README.md § 3) answers with the record, not with the id
of the `sys_journal_field` row it created. So the idempotency key travels in the text as
a last line, `— via Socialdesk [sd:<key>]`, the same convention as the Redmine and RT
connectors: a retry finds the first write by it, and ingestion recognizes our own entries
when they come back in a poll.
"""

from __future__ import annotations

import hashlib
import re

from connectors.servicenow.models import JournalEntry

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


def newest_marked(entries: list[JournalEntry], idempotency_key: str) -> JournalEntry | None:
    """The last entry that ends with this key's marker, whoever wrote it."""
    for entry in reversed(entries):
        if has_marker(entry.value, idempotency_key):
            return entry
    return None
