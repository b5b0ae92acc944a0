"""Redmine issues and journals → normalized `TicketChange`s (pure: lookups are passed in).

One change per journal detail plus one for the journal's note, in journal order:
`status_id` gives RESOLVED when the new status is resolved/closed, REOPENED when it leaves
resolved/closed for another status, else STATUS_CHANGED (old/new values are normalized
statuses, raw names in the payload); `assigned_to_id` gives ASSIGNED (old/new values are
user ids), `priority_id` PRIORITY_CHANGED (old/new P1..P4); any other detail (subject,
description, tracker, custom fields, attachments, relations) UPDATED with raw values.

A journal whose note ends with Socialdesk's marker is our write-back: its attachment
details (the files we attached with the note) carry the marker's key and the journal id
as the note does, so ingestion recognizes them as our own write and stores nothing.
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
from connectors.redmine.comments import split_marker
from connectors.redmine.models import Detail, Issue, Journal, Ref, StatusRef


@dataclass(frozen=True)
class Lookups:
    """What the translation needs resolved beforehand: ids → statuses, priorities, people."""

    statuses: Mapping[int, StatusRef]
    priorities: Mapping[int, str]
    people: Mapping[int, Person]
    status_of: Callable[[str, bool], NormalizedStatus]
    priority_of: Callable[[str], NormalizedPriority]
    base_url: str


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


class IssueTranslator:
    """Builds snapshots and changes for one issue as Redmine reports it now."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def person(self, ref: Ref | None) -> Person | None:
        """The cached user (with e-mail when the key may read it), else the ref's name."""
        if ref is None:
            return None
        known = self.lookups.people.get(ref.id)
        return known or Person(external_id=str(ref.id), name=ref.name or None)

    def _person_id(self, value: str | None) -> Person | None:
        user_id = _int(value)
        if user_id is None:
            return None
        return self.lookups.people.get(user_id) or Person(external_id=str(user_id))

    def snapshot(self, issue: Issue) -> TicketSnapshot:
        """The issue's current state, normalized."""
        return TicketSnapshot(
            external_id=str(issue.id),
            title=issue.subject,
            status=self.lookups.status_of(issue.status.name, issue.status.is_closed),
            raw_status=issue.status.name,
            priority=self.lookups.priority_of(issue.priority.name),
            raw_priority=issue.priority.name,
            created_at=issue.created_on,
            updated_at=issue.updated_on,
            description=issue.description or "",
            requester=self.person(issue.author),
            assignee=self.person(issue.assigned_to),
            service=issue.category.name if issue.category else None,
            url=f"{self.lookups.base_url}/issues/{issue.id}",
        )

    def created(self, issue: Issue, snap: TicketSnapshot) -> TicketChange:
        """The CREATED change of an issue (Redmine has no journal for creation)."""
        return TicketChange(
            source_id=f"redmine:issue:{issue.id}:created",
            kind=ChangeKind.CREATED,
            ticket=snap,
            occurred_at=issue.created_on,
            actor=self.person(issue.author),
            body=issue.description or "",
            payload={"tracker": issue.tracker.name if issue.tracker else None},
        )

    def journal(self, journal: Journal, snap: TicketSnapshot) -> list[TicketChange]:
        """The detail changes of a journal, then its note (if it has one)."""
        _, key = split_marker(journal.notes or "")
        changes = [self._detail(journal, d, snap, key) for d in journal.details]
        if journal.notes:
            changes.append(self._note(journal, snap))
        return changes

    def _note(self, journal: Journal, snap: TicketSnapshot) -> TicketChange:
        body, key = split_marker(journal.notes or "")
        payload: dict[str, Any] = {"private_notes": journal.private_notes}
        if key is not None:
            payload[IDEMPOTENCY_KEY] = key
        return TicketChange(
            source_id=f"redmine:journal:{journal.id}",
            kind=ChangeKind.COMMENTED,
            ticket=snap,
            occurred_at=journal.created_on,
            actor=self.person(journal.user),
            visibility=Visibility.INTERNAL if journal.private_notes else Visibility.PUBLIC,
            body=body,
            external_comment_id=str(journal.id),
            payload=payload,
        )

    def _detail(
        self, journal: Journal, detail: Detail, snap: TicketSnapshot, key: str | None
    ) -> TicketChange:
        kind, old, new, payload = self._describe(detail)
        suffix = detail.name if detail.property == "attr" else f"{detail.property}:{detail.name}"
        if detail.property == "relation":  # one journal may add several of one type
            suffix += f":{detail.new_value or detail.old_value}"
        ours = key is not None and detail.property == "attachment"
        if ours:
            payload[IDEMPOTENCY_KEY] = key
        return TicketChange(
            source_id=f"redmine:journal:{journal.id}:{suffix}",
            kind=kind,
            ticket=snap,
            occurred_at=journal.created_on,
            actor=self.person(journal.user),
            old_value=old,
            new_value=new,
            external_comment_id=str(journal.id) if ours else None,
            payload={"property": detail.property, "name": detail.name, **payload},
        )

    def _describe(
        self, detail: Detail
    ) -> tuple[ChangeKind, str | None, str | None, dict[str, Any]]:
        if detail.property == "attr" and detail.name == "status_id":
            return self._status_detail(detail)
        if detail.property == "attr" and detail.name == "priority_id":
            old_raw = self._priority_name(detail.old_value)
            new_raw = self._priority_name(detail.new_value)
            old = self.lookups.priority_of(old_raw) if old_raw else None
            new = self.lookups.priority_of(new_raw) if new_raw else None
            return ChangeKind.PRIORITY_CHANGED, old, new, {"raw_old": old_raw, "raw_new": new_raw}
        if detail.property == "attr" and detail.name == "assigned_to_id":
            old_person, new_person = (
                self._person_id(v) for v in (detail.old_value, detail.new_value)
            )
            payload = {
                "old_name": old_person.name if old_person else None,
                "new_name": new_person.name if new_person else None,
                "new_email": new_person.email if new_person else None,
            }
            return ChangeKind.ASSIGNED, detail.old_value, detail.new_value, payload
        return ChangeKind.UPDATED, detail.old_value, detail.new_value, {}

    def _status_detail(
        self, detail: Detail
    ) -> tuple[ChangeKind, str | None, str | None, dict[str, Any]]:
        old_ref = self._status_ref(detail.old_value)
        new_ref = self._status_ref(detail.new_value)
        old = self.lookups.status_of(old_ref.name, old_ref.is_closed) if old_ref else None
        new = self.lookups.status_of(new_ref.name, new_ref.is_closed) if new_ref else "open"
        payload = {
            "raw_old": old_ref.name if old_ref else None,
            "raw_new": new_ref.name if new_ref else None,
            "old_id": detail.old_value,
            "new_id": detail.new_value,
        }
        return status_kind(old, new), old, new, payload

    def _status_ref(self, value: str | None) -> StatusRef | None:
        status_id = _int(value)
        if status_id is None:
            return None
        return self.lookups.statuses.get(status_id) or StatusRef(id=status_id, name=f"#{value}")

    def _priority_name(self, value: str | None) -> str | None:
        priority_id = _int(value)
        if priority_id is None:
            return None
        return self.lookups.priorities.get(priority_id, f"#{value}")
