"""Jira issues, changelog entries and request comments → normalized `TicketChange`s (pure).

- An issue seen for the first time gives CREATED when it was created inside the sync's
  window (or on a sync from the beginning); one that was not (created before `sync_from`,
  or moved into the project) gives one UPDATED "first seen" change when nothing else of it
  is new, so the ticket enters the mirror.
- A changelog entry (contracts/jira-sm/README.md § 1c) gives, per item, by its author at
  its time: `status` RESOLVED into resolved/closed, REOPENED out of them, else
  STATUS_CHANGED (old/new normalized, raw names in the payload); `priority`
  PRIORITY_CHANGED when the normalized priority moves (else UPDATED); `assignee` ASSIGNED
  (old/new account ids, names in the payload); `reporter` and `summary` UPDATED. Other
  fields are not mirrored.
- A servicedeskapi request comment (§ 2b) gives COMMENTED: `public: true` public,
  `public: false` internal; its id is the external comment id.
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
from connectors.jira_sm.comments import split_marker
from connectors.jira_sm.models import History, HistoryItem, Issue, RequestComment, User, iso

PREFIX = "jira_sm"
StatusOf = Callable[[str, str], NormalizedStatus]  # (status name, status id) → normalized


def person(user: User | None) -> Person | None:
    if user is None:
        return None
    return Person(user.accountId, user.displayName or None, user.emailAddress or None)


@dataclass(frozen=True)
class IssueTranslator:
    status_of: StatusOf
    priority_of: Callable[[str], NormalizedPriority]
    base_url: str

    def snapshot(self, issue: Issue) -> TicketSnapshot:
        """The issue's current state, normalized."""
        fields = issue.fields
        priority = fields.priority.name if fields.priority else ""
        return TicketSnapshot(
            external_id=issue.key,
            title=fields.summary or issue.key,
            status=self.status_of(fields.status.name, fields.status.id),
            raw_status=fields.status.name,
            priority=self.priority_of(priority),
            raw_priority=priority,
            created_at=fields.created,
            updated_at=fields.updated,
            description=fields.description,
            requester=person(fields.reporter),
            assignee=person(fields.assignee),
            url=f"{self.base_url}/browse/{issue.key}",
        )

    def created(self, issue: Issue, snap: TicketSnapshot) -> TicketChange:
        return TicketChange(
            source_id=f"{PREFIX}:{issue.id}:created",
            kind=ChangeKind.CREATED,
            ticket=snap,
            occurred_at=issue.fields.created,
            actor=person(issue.fields.reporter),
            body=issue.fields.description,
            payload={"issue_id": issue.id, "key": issue.key},
        )

    def first_seen(self, issue: Issue, snap: TicketSnapshot) -> TicketChange:
        return TicketChange(
            source_id=f"{PREFIX}:{issue.id}:seen:{iso(issue.fields.updated)}",
            kind=ChangeKind.UPDATED,
            ticket=snap,
            occurred_at=issue.fields.updated,
            payload={"issue_id": issue.id, "key": issue.key, "first_seen": True},
        )

    def comment(self, comment: RequestComment, snap: TicketSnapshot) -> TicketChange:
        body, key = split_marker(comment.body)
        payload: dict[str, Any] = {"public": comment.public}
        if key is not None:
            payload[IDEMPOTENCY_KEY] = key
        return TicketChange(
            source_id=f"{PREFIX}:comment:{comment.id}",
            kind=ChangeKind.COMMENTED,
            ticket=snap,
            occurred_at=comment.created,
            actor=person(comment.author),
            visibility=Visibility.PUBLIC if comment.public else Visibility.INTERNAL,
            body=body,
            external_comment_id=comment.id,
            payload=payload,
        )

    def history(self, history: History, snap: TicketSnapshot) -> list[TicketChange]:
        """The mirrored items of one changelog entry (possibly none)."""
        changes = []
        for item in history.items:
            found = self._item(item)
            if found is None:
                continue
            name, kind, before, after, payload = found
            changes.append(
                TicketChange(
                    source_id=f"{PREFIX}:history:{history.id}:{name}",
                    kind=kind,
                    ticket=snap,
                    occurred_at=history.created,
                    actor=person(history.author),
                    old_value=before,
                    new_value=after,
                    payload={"field": name, "history_id": history.id, **payload},
                )
            )
        return changes

    def _item(
        self, item: HistoryItem
    ) -> tuple[str, ChangeKind, str | None, str | None, dict[str, Any]] | None:
        name = item.fieldId or item.field.lower()
        raw = {"raw_old": item.fromString, "raw_new": item.toString}
        if name == "status":
            before = self.status_of(item.fromString or "", item.from_ or "") if item.from_ else None
            after = self.status_of(item.toString or "", item.to or "")
            return name, status_kind(before, after), before, after, raw
        if name == "priority":
            old_p = self.priority_of(item.fromString or "") if item.fromString else None
            new_p = self.priority_of(item.toString or "")
            kind = ChangeKind.PRIORITY_CHANGED if old_p != new_p else ChangeKind.UPDATED
            return name, kind, old_p, new_p, raw
        if name in ("assignee", "reporter"):
            kind = ChangeKind.ASSIGNED if name == "assignee" else ChangeKind.UPDATED
            names = {"old_name": item.fromString, "new_name": item.toString}
            return name, kind, item.from_ or None, item.to or None, names
        if name == "summary":
            return name, ChangeKind.UPDATED, item.fromString, item.toString, {}
        return None
