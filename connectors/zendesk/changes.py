"""Zendesk tickets and comments → normalized `TicketChange`s (pure: people given).

- A ticket seen for the first time gives CREATED when it was created inside the sync's
  window (or on a sync from the beginning), else one UPDATED "first seen" change so the
  ticket enters the mirror (created before `sync_from`, or moved into the group). CREATED
  carries no body: Zendesk's `description` is the first comment, which may be an internal
  note, so the text reaches the timeline only as that comment, with its visibility.
- A comment (contracts/zendesk/README.md § 2) gives COMMENTED: `public: false` is an
  internal note; its id is the external comment id.
- A known ticket whose values differ from the kept ones gives, at its `updated_at`:
  `status` RESOLVED into solved/closed, REOPENED out of them, else STATUS_CHANGED;
  `priority` PRIORITY_CHANGED; `assignee_id` and `group_id` ASSIGNED; `requester_id` and
  `subject` UPDATED.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from connectors.zendesk.comments import comment_key, split_marker
from connectors.zendesk.models import Tracked, ZendeskComment, ZendeskTicket

PREFIX = "zendesk"


@dataclass(frozen=True)
class Lookups:
    people: Mapping[int, Person]
    status_of: Callable[[str], NormalizedStatus]
    priority_of: Callable[[str], NormalizedPriority]
    base_url: str


class TicketTranslator:
    """Builds snapshots and changes for one ticket as Zendesk reports it now."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def person(self, user_id: int | str | None) -> Person | None:
        if user_id in (None, ""):
            return None
        key = int(user_id)
        return self.lookups.people.get(key) or Person(external_id=str(key))

    def snapshot(self, ticket: ZendeskTicket, *, description_public: bool) -> TicketSnapshot:
        """The ticket's current state; its description only when it is public text."""
        priority = ticket.priority or ""
        return TicketSnapshot(
            external_id=ticket.external_id,
            title=ticket.subject or f"Zendesk ticket {ticket.id}",
            status=self.lookups.status_of(ticket.status),
            raw_status=ticket.status,
            priority=self.lookups.priority_of(priority),
            raw_priority=priority,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            description=(ticket.description or "") if description_public else "",
            requester=self.person(ticket.requester_id),
            assignee=self.person(ticket.assignee_id),
            service=ticket.type or None,
            url=f"{self.lookups.base_url}/agent/tickets/{ticket.id}",
        )

    def _ticket_id(self, ticket: ZendeskTicket) -> str:
        return f"{PREFIX}:ticket:{ticket.id}"

    def created(self, ticket: ZendeskTicket, snap: TicketSnapshot) -> TicketChange:
        return TicketChange(
            source_id=f"{self._ticket_id(ticket)}:created",
            kind=ChangeKind.CREATED,
            ticket=snap,
            occurred_at=ticket.created_at,
            actor=snap.requester,
            payload={"ticket_id": ticket.id},
        )

    def first_seen(self, ticket: ZendeskTicket, snap: TicketSnapshot) -> TicketChange:
        return TicketChange(
            source_id=f"{self._ticket_id(ticket)}:{ticket.generated_timestamp}:seen",
            kind=ChangeKind.UPDATED,
            ticket=snap,
            occurred_at=ticket.updated_at,
            payload={"ticket_id": ticket.id, "first_seen": True},
        )

    def comment(self, comment: ZendeskComment, snap: TicketSnapshot) -> TicketChange:
        """One public comment or internal note (`public: false`)."""
        body, _ = split_marker(comment.body)
        payload: dict[str, Any] = {"type": comment.type}
        key = comment_key(comment)
        if key is not None:
            payload[IDEMPOTENCY_KEY] = key
        return TicketChange(
            source_id=f"{PREFIX}:comment:{comment.id}",
            kind=ChangeKind.COMMENTED,
            ticket=snap,
            occurred_at=comment.created_at,
            actor=self.person(comment.author_id),
            visibility=Visibility.PUBLIC if comment.public else Visibility.INTERNAL,
            body=body,
            external_comment_id=str(comment.id),
            payload=payload,
        )

    def differences(
        self, old: Tracked, ticket: ZendeskTicket, snap: TicketSnapshot
    ) -> list[TicketChange]:
        """The changes between the kept values and the ticket's current ones."""
        new = Tracked.of(ticket)
        found: list[tuple[str, ChangeKind, str | None, str | None, dict[str, Any]]] = []
        if old.status != new.status:
            before = self.lookups.status_of(old.status) if old.status else None
            after = self.lookups.status_of(new.status)
            raw = {"raw_old": old.status or None, "raw_new": new.status}
            found.append(("status", status_kind(before, after), before, after, raw))
        if old.priority != new.priority:
            old_p = self.lookups.priority_of(old.priority)
            new_p = self.lookups.priority_of(new.priority)
            kind = ChangeKind.PRIORITY_CHANGED if old_p != new_p else ChangeKind.UPDATED
            raw = {"raw_old": old.priority or None, "raw_new": new.priority or None}
            found.append(("priority", kind, old_p, new_p, raw))
        for name in ("assignee_id", "group_id", "requester_id"):
            before, after = getattr(old, name), getattr(new, name)
            if before != after:
                kind = ChangeKind.UPDATED if name == "requester_id" else ChangeKind.ASSIGNED
                found.append((name, kind, before or None, after or None, self._names(name, after)))
        if old.subject != new.subject:
            found.append(("subject", ChangeKind.UPDATED, None, ticket.subject, {}))
        return [
            TicketChange(
                source_id=f"{self._ticket_id(ticket)}:{ticket.generated_timestamp}:{name}",
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
        person = self.person(after or None)
        return {
            "new_name": person.name if person else None,
            "new_email": person.email if person else None,
        }
