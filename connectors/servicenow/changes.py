"""ServiceNow records and journal entries → normalized `TicketChange`s (pure: lookups given).

- A record seen for the first time gives CREATED when it was created inside the sync's
  window (or on a sync from the beginning), else one UPDATED "first seen" change so the
  ticket enters the mirror (created before `sync_from`, or moved into the group).
- A journal entry (`sys_journal_field`, contracts/servicenow/README.md § 2) gives COMMENTED:
  `comments` public, `work_notes` internal; its sys_id is the external comment id.
- A known record whose values differ from the kept ones gives, at its `sys_updated_on` and
  by its `sys_updated_by`: `state` RESOLVED into resolved/closed, REOPENED out of them,
  else STATUS_CHANGED (old/new normalized, raw values in the payload); `priority`
  PRIORITY_CHANGED when the normalized priority moves (else UPDATED); `assigned_to` and
  `assignment_group` ASSIGNED (old/new sys_ids, names in the payload); `caller_id`,
  `impact`, `urgency` and `short_description` UPDATED.
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
from connectors.servicenow.comments import split_marker
from connectors.servicenow.mapping import effective_priority
from connectors.servicenow.models import JournalEntry, Record, Tracked

PREFIX = "servicenow"


@dataclass(frozen=True)
class Lookups:
    """What the translation needs resolved beforehand: people and groups by sys_id/user name."""

    people: Mapping[str, Person]
    groups: Mapping[str, str]
    status_of: Callable[[str, str], NormalizedStatus]  # (state, active) → normalized
    state_name: Callable[[str], str]  # the state's name, where the table's states are known
    priority_of: Callable[[str], NormalizedPriority]
    base_url: str
    table: str


class RecordTranslator:
    """Builds snapshots and changes for one record as ServiceNow reports it now."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def person(self, key: str) -> Person | None:
        """The user behind a sys_id or user name (name and e-mail when sys_user is readable)."""
        if not key:
            return None
        return self.lookups.people.get(key) or Person(external_id=key)

    def _priority(self, values: Tracked) -> str:
        return effective_priority(values.priority, values.impact, values.urgency)

    def snapshot(self, record: Record) -> TicketSnapshot:
        """The record's current state, normalized."""
        priority = effective_priority(record.priority, record.impact, record.urgency)
        table = self.lookups.table
        return TicketSnapshot(
            external_id=record.external_id,
            title=record.short_description or record.external_id,
            status=self.lookups.status_of(record.state, record.active),
            raw_status=self.lookups.state_name(record.state),
            priority=self.lookups.priority_of(priority),
            raw_priority=priority,
            created_at=record.sys_created_on,
            updated_at=record.sys_updated_on,
            description=record.description,
            requester=self.person(record.caller_id or record.opened_by),
            assignee=self.person(record.assigned_to),
            service=record.category or None,
            url=f"{self.lookups.base_url}/{table}.do?sys_id={record.sys_id}",
        )

    def _record_id(self, record: Record) -> str:
        return f"{PREFIX}:{self.lookups.table}:{record.sys_id}"

    def created(self, record: Record, snap: TicketSnapshot) -> TicketChange:
        """The CREATED change of a record (ServiceNow keeps no journal entry for it)."""
        return TicketChange(
            source_id=f"{self._record_id(record)}:created",
            kind=ChangeKind.CREATED,
            ticket=snap,
            occurred_at=record.sys_created_on,
            actor=self.person(record.opened_by or record.sys_created_by),
            body=record.description,
            payload={"sys_id": record.sys_id, "number": record.number},
        )

    def first_seen(self, record: Record, snap: TicketSnapshot) -> TicketChange:
        """A record that was not created in the window but is new to the sync."""
        return TicketChange(
            source_id=f"{self._record_id(record)}:{record.sys_mod_count}:seen",
            kind=ChangeKind.UPDATED,
            ticket=snap,
            occurred_at=record.sys_updated_on,
            actor=self.person(record.sys_updated_by),
            payload={"sys_id": record.sys_id, "number": record.number, "first_seen": True},
        )

    def journal(self, entry: JournalEntry, snap: TicketSnapshot) -> TicketChange:
        """One comment (public) or work note (internal)."""
        body, key = split_marker(entry.value)
        payload: dict[str, Any] = {"element": entry.element}
        if key is not None:
            payload[IDEMPOTENCY_KEY] = key
        internal = entry.element == "work_notes"
        return TicketChange(
            source_id=f"{PREFIX}:journal:{entry.sys_id}",
            kind=ChangeKind.COMMENTED,
            ticket=snap,
            occurred_at=entry.sys_created_on,
            actor=self.person(entry.sys_created_by),
            visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC,
            body=body,
            external_comment_id=entry.sys_id,
            payload=payload,
        )

    def differences(self, old: Tracked, record: Record, snap: TicketSnapshot) -> list[TicketChange]:
        """The changes between the kept values and the record's current ones."""
        new = Tracked.of(record)
        found: list[tuple[str, ChangeKind, str | None, str | None, dict[str, Any]]] = []
        if (old.state, old.active) != (new.state, new.active):
            found.append(self._state(old, new))
        old_priority, new_priority = self._priority(old), self._priority(new)
        if old_priority != new_priority:
            old_p = self.lookups.priority_of(old_priority)
            new_p = self.lookups.priority_of(new_priority)
            kind = ChangeKind.PRIORITY_CHANGED if old_p != new_p else ChangeKind.UPDATED
            raw = {"raw_old": old_priority, "raw_new": new_priority}
            found.append(("priority", kind, old_p, new_p, raw))
        for name in ("impact", "urgency"):
            before, after = getattr(old, name), getattr(new, name)
            if before != after:
                found.append((name, ChangeKind.UPDATED, before, after, {}))
        for name in ("assigned_to", "assignment_group", "caller_id"):
            before, after = getattr(old, name), getattr(new, name)
            if before != after:
                kind = ChangeKind.UPDATED if name == "caller_id" else ChangeKind.ASSIGNED
                found.append(
                    (name, kind, before or None, after or None, self._names(name, before, after))
                )
        if old.title != new.title:
            found.append(
                ("short_description", ChangeKind.UPDATED, None, record.short_description, {})
            )
        return [
            TicketChange(
                source_id=f"{self._record_id(record)}:{record.sys_mod_count}:{name}",
                kind=kind,
                ticket=snap,
                occurred_at=record.sys_updated_on,
                actor=self.person(record.sys_updated_by),
                old_value=before,
                new_value=after,
                payload={"field": name, **payload},
            )
            for name, kind, before, after, payload in found
        ]

    def _state(
        self, old: Tracked, new: Tracked
    ) -> tuple[str, ChangeKind, str | None, str | None, dict[str, Any]]:
        before = self.lookups.status_of(old.state, old.active) if old.state else None
        after = self.lookups.status_of(new.state, new.active)
        payload = {
            "raw_old": self.lookups.state_name(old.state) if old.state else None,
            "raw_new": self.lookups.state_name(new.state),
            "old_state": old.state,
            "new_state": new.state,
        }
        return "state", status_kind(before, after), before, after, payload

    def _names(self, name: str, before: str, after: str) -> dict[str, Any]:
        if name == "assignment_group":
            groups = self.lookups.groups
            return {"old_name": groups.get(before), "new_name": groups.get(after)}
        old_person, new_person = self.person(before), self.person(after)
        return {
            "old_name": old_person.name if old_person else None,
            "new_name": new_person.name if new_person else None,
            "new_email": new_person.email if new_person else None,
        }
