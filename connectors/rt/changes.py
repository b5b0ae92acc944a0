"""RT tickets and transactions → normalized `TicketChange`s (pure: lookups are passed in).

One change per transaction, source id `rt:txn:<id>`: `Create` → CREATED; `Correspond` →
COMMENTED (PUBLIC), `Comment` → COMMENTED (INTERNAL), both with `external_comment_id` =
transaction id; `Status` → RESOLVED into resolved/closed, REOPENED out of them, else
STATUS_CHANGED (normalized old/new, raw in the payload); `Set Owner` → ASSIGNED (old/new
user Names, None for Nobody); `Set Priority` → PRIORITY_CHANGED (P1..P4); other `Set`,
`CustomField`, `AddLink`, `DeleteLink` → UPDATED. `SetWatcher Owner` repeats `Set Owner`,
and mail copies (`EmailRecord`…) are not ticket changes: the poll does not ask for them.
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
from connectors.rt.comments import split_marker
from connectors.rt.models import NOBODY, Ticket, Transaction, UserRef

MESSAGE_TYPES = ("Create", "Correspond", "Comment")
CHANGE_TYPES = ("Status", "Set", "CustomField", "AddLink", "DeleteLink")
TYPES = MESSAGE_TYPES + CHANGE_TYPES


@dataclass(frozen=True)
class Lookups:
    """What the translation needs resolved beforehand."""

    people: Mapping[str, Person | None]  # numeric user id → person (None: Nobody)
    descriptions: Mapping[int, str]  # ticket id → first message
    messages: Mapping[int, str]  # transaction id → message text
    status_of: Callable[[str], NormalizedStatus]
    priority_of: Callable[[str], NormalizedPriority]
    base_url: str


def person(ref: UserRef | None) -> Person | None:
    """A role member or creator as a Person keyed by RT user Name; Nobody is nobody."""
    if ref is None:
        return None
    name = ref.Name or ref.id
    if name == NOBODY:
        return None
    return Person(external_id=name, name=ref.RealName or name, email=ref.EmailAddress or None)


class TransactionTranslator:
    """Builds snapshots and changes for the tickets of one page."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def snapshot(self, ticket: Ticket) -> TicketSnapshot:
        """The ticket's current state, normalized."""
        requester = person(ticket.Requestor[0]) if ticket.Requestor else None
        return TicketSnapshot(
            external_id=str(ticket.id),
            title=ticket.Subject,
            status=self.lookups.status_of(ticket.Status),
            raw_status=ticket.Status,
            priority=self.lookups.priority_of(ticket.Priority),
            raw_priority=ticket.Priority,
            created_at=ticket.Created,
            updated_at=ticket.LastUpdated,
            description=self.lookups.descriptions.get(ticket.id, ""),
            requester=requester,
            assignee=person(ticket.Owner),
            url=f"{self.lookups.base_url}/Ticket/Display.html?id={ticket.id}",
        )

    def change(self, txn: Transaction, snap: TicketSnapshot) -> TicketChange | None:
        """The change a transaction stands for (None: not a ticket change we report)."""
        base: dict[str, Any] = {
            "source_id": f"rt:txn:{txn.id}",
            "ticket": snap,
            "occurred_at": txn.Created,
            "actor": person(txn.Creator),
        }
        if txn.Type in MESSAGE_TYPES:
            return self._message(txn, base)
        if txn.Type == "Status" or (txn.Type == "Set" and txn.Field == "Status"):
            return self._status(txn, base)
        if txn.Type == "Set" and txn.Field == "Owner":
            old, new = (self._owner(v) for v in (txn.OldValue, txn.NewValue))
            payload = {
                "old_name": old.name if old else None,
                "new_name": new.name if new else None,
                "new_email": new.email if new else None,
            }
            ids = (old.external_id if old else None, new.external_id if new else None)
            return TicketChange(
                kind=ChangeKind.ASSIGNED,
                old_value=ids[0],
                new_value=ids[1],
                payload=payload,
                **base,
            )
        if txn.Type == "Set" and txn.Field == "Priority":
            return self._priority(txn, base)
        if txn.Type in CHANGE_TYPES:
            payload = {"type": txn.Type, "field": txn.Field}
            return TicketChange(
                kind=ChangeKind.UPDATED,
                old_value=txn.OldValue,
                new_value=txn.NewValue,
                payload=payload,
                **base,
            )
        return None

    def _message(self, txn: Transaction, base: dict[str, Any]) -> TicketChange:
        body, key = split_marker(self.lookups.messages.get(txn.id, ""))
        payload: dict[str, Any] = {"type": txn.Type}
        if key is not None:
            payload[IDEMPOTENCY_KEY] = key
        if txn.Type == "Create":
            return TicketChange(kind=ChangeKind.CREATED, body=body, payload=payload, **base)
        internal = txn.Type == "Comment"
        return TicketChange(
            kind=ChangeKind.COMMENTED,
            visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
            body=body,
            external_comment_id=str(txn.id),
            payload=payload,
            **base,
        )

    def _status(self, txn: Transaction, base: dict[str, Any]) -> TicketChange:
        old = self.lookups.status_of(txn.OldValue) if txn.OldValue else None
        new = self.lookups.status_of(txn.NewValue or "")
        payload = {"raw_old": txn.OldValue, "raw_new": txn.NewValue}
        kind = status_kind(old, new)
        return TicketChange(kind=kind, old_value=old, new_value=new, payload=payload, **base)

    def _priority(self, txn: Transaction, base: dict[str, Any]) -> TicketChange:
        old = self.lookups.priority_of(txn.OldValue) if txn.OldValue else None
        new = self.lookups.priority_of(txn.NewValue) if txn.NewValue else None
        payload = {"raw_old": txn.OldValue, "raw_new": txn.NewValue}
        return TicketChange(
            kind=ChangeKind.PRIORITY_CHANGED, old_value=old, new_value=new, payload=payload, **base
        )

    def _owner(self, value: str | None) -> Person | None:
        if not value:
            return None
        if value in self.lookups.people:
            return self.lookups.people[value]
        return Person(external_id=value)
