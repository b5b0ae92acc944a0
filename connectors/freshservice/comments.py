"""The marker Socialdesk appends to what it writes, so a retry finds the first write.

Freshservice's reply and note endpoints (contracts/freshservice/README.md § 3) take no
idempotency header, so the key travels in the text as a last line,
`— via Socialdesk [sd:<key>]`, the convention of the other connectors: a retry finds the
first write by it, and ingestion recognizes our own comments when they come back in a poll.
Bodies are HTML (§ 3), so the text is escaped and its lines joined with `<br>`. The server
rewraps what it stores (§ 3: plain text comes back in `<div>…</div>`) and may add to it
(a signature, ASSUMED), so the marker is looked for anywhere in `body_text`, then in the
tag-stripped `body`, not only at the very end.
"""

from __future__ import annotations

import html
import re

from connectors.freshservice.models import Conversation
from connectors.marker import marker, marker_key

# The marker itself is shared (connectors/marker.py); importers read it from here.
__all__ = [
    "conversation_key",
    "html_body",
    "marker",
    "marker_key",
    "newest_marked",
    "plain_text",
    "split_marker",
]


_MARKER = re.compile(r"\s*— via Socialdesk \[sd:([A-Za-z0-9._:-]{1,64})\]")
_TAG = re.compile(r"<[^>]+>")


def html_body(body: str, idempotency_key: str) -> str:
    """The HTML written to the ticket: the escaped text, then the marker on its own line."""
    lines = [html.escape(line) for line in body.rstrip().splitlines()] or [""]
    text = "<br>".join(lines)
    return f"<div>{text}</div><div><br></div><div>{html.escape(marker(idempotency_key))}</div>"


def plain_text(conversation: Conversation) -> str:
    """`body_text`, else the tag-stripped `body`."""
    if conversation.body_text is not None:
        return conversation.body_text
    return html.unescape(_TAG.sub(" ", conversation.body.replace("<br>", "\n")))


def split_marker(text: str) -> tuple[str, str | None]:
    """The text without our (last) marker, and the marker's key (None if there is none)."""
    found = list(_MARKER.finditer(text))
    if not found:
        return text, None
    last = found[-1]
    rest = text[last.end() :].strip()
    return (text[: last.start()] + (f"\n\n{rest}" if rest else "")), last.group(1)


def conversation_key(conversation: Conversation) -> str | None:
    """The marker's key in `body_text`, else in the tag-stripped `body`."""
    for text in (conversation.body_text or "", html.unescape(_TAG.sub(" ", conversation.body))):
        key = split_marker(text)[1]
        if key is not None:
            return key
    return None


def newest_marked(conversations: list[Conversation], idempotency_key: str) -> Conversation | None:
    """The newest conversation that carries this key's marker, whoever wrote it."""
    wanted = marker_key(idempotency_key)
    marked = [c for c in conversations if conversation_key(c) == wanted]
    return max(marked, key=lambda c: (c.created_at, c.id)) if marked else None
