"""Freshservice tickets and conversations → normalized `TicketChange`s (pure: people given).

- A ticket seen for the first time gives CREATED when it was created inside the sync's
  window (or on a sync from the beginning), with its `description_text` (the requester's
  own words, public); else one UPDATED "first seen" change so the ticket enters the mirror
  (created before `sync_from`, moved into the workspace, or forgotten by the cursor).
- A conversation (contracts/freshservice/README.md § 2) gives COMMENTED: `private: true`
  is an internal note, anything else public; its id is the external comment id.
- A known ticket whose values differ from the kept ones gives, at its `updated_at`:
  `status` RESOLVED into resolved/closed, REOPENED out of them, else STATUS_CHANGED;
  `priority` PRIORITY_CHANGED; `responder_id` and `group_id` ASSIGNED; `requester_id` and
  `subject` UPDATED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.base import (
    IDEMPOTENCY_KEY,
    ChangeKind,
    NormalizedPriority,
    NormalizedStatus,
    Person,
    TicketChange,
    TicketSnapshot,
    Visibility,
    status_kind,
)
from connectors.freshservice.comments import conversation_key, plain_text, split_marker
from connectors.freshservice.mapping import raw_status
from connectors.freshservice.models import Conversation, Ticket, Tracked, iso

PREFIX = "freshservice"


@dataclass(frozen=True)
class Lookups:
    person: Callable[[int | None], Person | None]
    status_of: Callable[[str], NormalizedStatus]
    priority_of: Callable[[str], NormalizedPriority]
    base_url: str


def tracked(ticket: Ticket) -> Tracked:
    return Tracked.of(ticket, raw_status(ticket.status, ticket.responder_id))


class TicketTranslator:
    """Builds snapshots and changes for one ticket as Freshservice reports it now."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def snapshot(self, ticket: Ticket) -> TicketSnapshot:
        """The ticket's current state, normalized."""
        status = raw_status(ticket.status, ticket.responder_id)
        priority = str(ticket.priority) if ticket.priority is not None else ""
        return TicketSnapshot(
            external_id=ticket.external_id,
            title=ticket.subject or f"Freshservice ticket {ticket.id}",
            status=self.lookups.status_of(status),
            raw_status=status,
            priority=self.lookups.priority_of(priority),
            raw_priority=priority,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            description=ticket.description_text or "",
            requester=self.lookups.person(ticket.requester_id),
            assignee=self.lookups.person(ticket.responder_id),
            service=ticket.type or None,
            url=f"{self.lookups.base_url}/a/tickets/{ticket.id}",
        )

    def _ticket_id(self, ticket: Ticket) -> str:
        return f"{PREFIX}:ticket:{ticket.id}"

    def created(self, ticket: Ticket, snap: TicketSnapshot) -> TicketChange:
        return TicketChange(
            source_id=f"{self._ticket_id(ticket)}:created",
            kind=ChangeKind.CREATED,
            ticket=snap,
            occurred_at=ticket.created_at,
            actor=snap.requester,
            body=ticket.description_text or None,
            payload={"ticket_id": ticket.id},
        )

    def first_seen(self, ticket: Ticket, snap: TicketSnapshot) -> TicketChange:
        return TicketChange(
            source_id=f"{self._ticket_id(ticket)}:{iso(ticket.updated_at)}:seen",
            kind=ChangeKind.UPDATED,
            ticket=snap,
            occurred_at=ticket.updated_at,
            payload={"ticket_id": ticket.id, "first_seen": True},
        )

    def conversation(self, conversation: Conversation, snap: TicketSnapshot) -> TicketChange:
        """One reply or note; `private: true` is internal (§ 2)."""
        body, _ = split_marker(plain_text(conversation))
        payload: dict[str, Any] = {
            "private": conversation.private,
            "incoming": conversation.incoming,
            "source": conversation.source,
        }
        key = conversation_key(conversation)
        if key is not None:
            payload[IDEMPOTENCY_KEY] = key
        return TicketChange(
            source_id=f"{PREFIX}:conversation:{conversation.id}",
            kind=ChangeKind.COMMENTED,
            ticket=snap,
            occurred_at=conversation.created_at,
            actor=self.lookups.person(conversation.user_id),
            # Anything but an explicit `private: false` would be a parse error (models.py),
            # so a conversation reaches the mirror public only when Freshservice says so.
            visibility=Visibility.INTERNAL if conversation.private else Visibility.PUBLIC,
            body=body.strip(),
            external_comment_id=str(conversation.id),
            payload=payload,
        )

    def differences(self, old: Tracked, ticket: Ticket, snap: TicketSnapshot) -> list[TicketChange]:
        """The changes between the kept values and the ticket's current ones."""
        new = tracked(ticket)
        found: list[tuple[str, ChangeKind, str | None, str | None, dict[str, Any]]] = []
        if old.status != new.status:
            before = self.lookups.status_of(old.status) if old.status else None
            after = self.lookups.status_of(new.status)
            raw = {"raw_old": old.status or None, "raw_new": new.status}
            if before != after:
                found.append(("status", status_kind(before, after), before, after, raw))
        if old.priority != new.priority:
            old_p = self.lookups.priority_of(old.priority)
            new_p = self.lookups.priority_of(new.priority)
            kind = ChangeKind.PRIORITY_CHANGED if old_p != new_p else ChangeKind.UPDATED
            raw = {"raw_old": old.priority or None, "raw_new": new.priority or None}
            found.append(("priority", kind, old_p, new_p, raw))
        for name in ("responder_id", "group_id", "requester_id"):
            before_id, after_id = getattr(old, name), getattr(new, name)
            if before_id != after_id:
                kind = ChangeKind.UPDATED if name == "requester_id" else ChangeKind.ASSIGNED
                names = self._names(name, after_id)
                found.append((name, kind, before_id or None, after_id or None, names))
        if old.subject != new.subject:
            found.append(("subject", ChangeKind.UPDATED, None, ticket.subject, {}))
        stamp = iso(ticket.updated_at)
        return [
            TicketChange(
                source_id=f"{self._ticket_id(ticket)}:{stamp}:{name}",
                kind=kind,
                ticket=snap,
                occurred_at=ticket.updated_at,
                old_value=before,
                new_value=after,
                payload={"field": name, **payload},
            )
            for name, kind, before, after, payload in found
        ]

    def _names(self, name: str, after: str) -> dict[str, Any]:
        if name == "group_id":
            return {}
        person = self.lookups.person(int(after) if after else None)
        return {
            "new_name": person.name if person else None,
            "new_email": person.email if person else None,
        }
