"""The words of a notification: one heading per update, and the subject line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.notifications.content import Section

_PHRASES = {
    "ticket.created": "New ticket",
    "ticket.assigned": "The ticket was assigned",
    "ticket.commented": "New comment",
    "ticket.resolved": "The ticket was resolved",
    "ticket.reopened": "The ticket was reopened",
    "chat.message": "New message",
    "status.update": "IT service status update",
    "status.resolved": "IT service issue resolved",
    "survey.requested": "How did we do? Tell us about your ticket",
}


def heading(part: dict[str, Any], ticket_ref: str | None, *, internal: bool) -> str:
    """One line saying what happened, e.g. `Status changed from open to pending`."""
    kind = part.get("type")
    if kind == "ticket.status_changed":
        phrase = _status_phrase(
            part.get("path") or [part.get("old_status"), part.get("new_status")]
        )
    elif kind == "ticket.priority_changed":
        phrase = f"Priority changed to {part.get('priority')}"
    else:
        phrase = _PHRASES.get(str(kind), "Update")
    if internal:
        phrase += " (internal)"
    return f"[{ticket_ref}] {phrase}" if ticket_ref else phrase


def _status_phrase(path: list[str | None]) -> str:
    first, last = path[0], path[-1]
    between = [step for step in path[1:-1] if step and step not in (first, last)]
    if not first:
        return f"Status is now {last}"
    if first == last:
        briefly = f" (briefly {', '.join(between)})" if between else ""
        return f"Status is {last} again{briefly}"
    via = f" (via {', '.join(between)})" if between else ""
    return f"Status changed from {first} to {last}{via}"


def subject_for(title: str, sections: Sequence[Section], *, digest: bool) -> str:
    """The subject: the ticket and what happened, or the size of a digest."""
    count = len(sections)
    if digest:
        return f"Socialdesk digest: {count} update{'s' if count != 1 else ''}"
    what = sections[0].heading if count == 1 else f"{count} updates"
    return f"{title}: {what}" if title else what
