"""The Redmine connector: polls the project's issues and journals, writes notes back.

Redmine has no webhooks and no change feed: the poll lists the project's issues by
`updated_on` (see `cursor.py`), re-reads each changed issue with its journals and emits
the journals it has not emitted yet (see `changes.py` for the kinds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError

from connectors.base import (
    AuthError,
    Capability,
    ChangePage,
    Connector,
    ConnectorConfig,
    ConnectorError,
    FileToSend,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    NotFound,
    NotSupported,
    Person,
    TicketChange,
    TicketSnapshot,
    TransientError,
    Visibility,
    WriteNotApplied,
)
from connectors.redmine.changes import IssueTranslator, Lookups
from connectors.redmine.client import RedmineClient
from connectors.redmine.comments import has_marker, with_marker
from connectors.redmine.config import RedmineConfig
from connectors.redmine.cursor import SETTLE, RedmineCursor
from connectors.redmine.mapping import PRIORITY_MAP, STATUS_MAP
from connectors.redmine.models import (
    CurrentUser,
    Issue,
    Journal,
    ListedIssue,
    Project,
    Ref,
    StatusRef,
    User,
)
from connectors.redmine.uploads import upload_files

MAX_CHANGES = 100  # per page, as the sync engine commits a page in one transaction
# Re-read this many issues of the previous listing page: issues updated while we page
# move to the end of the list and shift the rest left by one each.
LISTING_OVERLAP = 10
# What the declared capabilities need; a key without them syncs an incomplete picture
# (`view_private_notes`) or publishes internal notes (`set_notes_private`).
REQUIRED_PERMISSIONS = ("view_issues", "add_issue_notes", "view_private_notes", "set_notes_private")


class RedmineConnector(Connector):
    kind = "redmine"
    display_name = "Redmine"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
            Capability.WRITE_FILES,
        }
    )
    required_secrets = ("api_key",)
    required_settings = ("project",)
    status_map: ClassVar[dict[str, NormalizedStatus]] = dict(STATUS_MAP)
    priority_map: ClassVar[dict[str, NormalizedPriority]] = dict(PRIORITY_MAP)

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.settings = RedmineConfig.from_connector_config(config)
        self.client = RedmineClient(
            http, self.settings.url, self.settings.api_key.get_secret_value()
        )
        self._statuses: dict[int, StatusRef] = {}
        self._priorities: dict[int, str] = {}
        self._people: dict[int, Person] = {}
        self._me: CurrentUser | None = None
        self._project: Project | None = None
        self._permissions: set[str] | None = None

    # --- health ------------------------------------------------------------------------

    async def check(self) -> Health:
        """Reachable, key accepted, project visible, and the permissions the features need."""
        try:
            await self._current_user()
        except TransientError as exc:
            return Health(False, False, False, exc.message)
        except ConnectorError as exc:
            return Health(True, False, False, exc.message)
        try:
            project = await self._the_project()
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        identity = f"redmine:{self.settings.url}:project:{project.identifier}"
        permissions = await self._project_permissions()
        if permissions is None:
            detail = f"project {project.identifier!r} visible; could not read the key's roles"
            return Health(True, True, True, detail, identity)
        missing = [p for p in REQUIRED_PERMISSIONS if p not in permissions]
        if missing:
            names = ", ".join(missing)
            detail = f"the key lacks Redmine permissions in {project.identifier!r}: {names}"
            return Health(True, True, False, detail, identity)
        return Health(True, True, True, f"project {project.identifier!r} OK", identity)

    async def _current_user(self) -> CurrentUser:
        if self._me is None:
            self._me = await self.client.current_user()
        return self._me

    async def _the_project(self) -> Project:
        if self._project is None:
            self._project = await self.client.project(self.settings.project)
        return self._project

    async def _project_permissions(self) -> set[str] | None:
        """The union of the key's role permissions in the project (None: unknown)."""
        if self._permissions is not None:
            return self._permissions
        me, project = await self._current_user(), await self._the_project()
        if me.admin:
            self._permissions = set(REQUIRED_PERMISSIONS)
            return self._permissions
        roles = {r.id for m in me.memberships if m.project.id == project.id for r in m.roles}
        found: set[str] = set()
        for role_id in sorted(roles):
            permissions = await self.client.role_permissions(role_id)
            if permissions is None:
                return None
            found |= permissions
        self._permissions = found if roles else None
        return self._permissions

    # --- reading -----------------------------------------------------------------------

    def _status_of(self, name: str, is_closed: bool) -> NormalizedStatus:
        key = name.casefold()
        known = key in self._status_overrides or any(n.casefold() == key for n in STATUS_MAP)
        return "closed" if is_closed and not known else self.normalize_status(name)

    def _translator(self) -> IssueTranslator:
        lookups = Lookups(
            statuses=self._statuses,
            priorities=self._priorities,
            people=self._people,
            status_of=self._status_of,
            priority_of=self.normalize_priority,
            base_url=self.settings.url,
        )
        return IssueTranslator(lookups)

    async def _resolve(self, issue: Issue, journals: list[Journal]) -> None:
        """Fetch the statuses, priorities and users the translation will name."""
        details = [d for j in journals for d in j.details if d.property == "attr"]
        values = {(d.name, v) for d in details for v in (d.old_value, d.new_value) if v}
        wanted = {
            n: {int(v) for name, v in values if name == n and v.isdigit()}
            for n in ("status_id", "priority_id", "assigned_to_id")
        }
        if not wanted["status_id"] <= self._statuses.keys():
            self._statuses.update({s.id: s for s in await self.client.statuses()})
        if not wanted["priority_id"] <= self._priorities.keys():
            self._priorities.update({p.id: p.name for p in await self.client.priorities()})
        refs = [issue.author, issue.assigned_to, *(j.user for j in journals)]
        names = {r.id: r.name for r in refs if r is not None}
        for user_id in sorted((names.keys() | wanted["assigned_to_id"]) - self._people.keys()):
            self._people[user_id] = await self._person(user_id, names.get(user_id))

    async def _person(self, user_id: int, name: str | None) -> Person:
        raw = await self.client.user(user_id)
        try:
            user = User.model_validate(raw) if raw is not None else None
        except ValidationError:
            user = None
        if user is None:  # a group, a deleted user, or not readable with this key
            return Person(external_id=str(user_id), name=name or None)
        return Person(str(user_id), user.display_name or name or None, user.mail or None)

    async def _read_issue(self, external_id: str | int) -> tuple[Issue, list[Journal], list[str]]:
        """The issue, its valid journals (by id), and a note per malformed journal."""
        if not str(external_id).isdigit():
            raise NotFound(f"{external_id!r} is not a Redmine issue id")
        raw = await self.client.issue(external_id)
        try:
            issue = Issue.model_validate(raw)
        except ValidationError as exc:
            raise MalformedIssue(f"issue #{external_id}: malformed ({_first_error(exc)})") from None
        journals: list[Journal] = []
        notes: list[str] = []
        for item in issue.journals:
            try:
                journals.append(Journal.model_validate(item))
            except ValidationError as exc:
                notes.append(
                    f"issue #{issue.id} journal {item.get('id')!r}: skipped, malformed "
                    f"({_first_error(exc)})"
                )
        journals.sort(key=lambda j: j.id)
        return issue, journals, notes

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The issue's current state."""
        issue, _, _ = await self._read_issue(external_id)
        await self._resolve(issue, [])
        return self._translator().snapshot(issue)

    async def cursor_at(self, moment: datetime) -> str:
        """A cursor that starts at `moment` instead of the beginning of the project's history."""
        return RedmineCursor(since=moment).dump()

    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next ≤100 changes: issues in `updated_on` order, journals in id order."""
        state = RedmineCursor.parse(cursor)
        page = _Page()
        project = self.settings.project
        window, offset = state.window_start(), 0
        while True:
            items, total = await self.client.list_issues(project, window, offset)
            for raw in items:
                listed = _listed(raw, page)
                if listed is None or state.is_current(listed.id, listed.updated_on):
                    if listed is not None:
                        state.advance(listed.updated_on)
                    continue
                if page.full or not await self._emit_issue(listed, state, page):
                    return ChangePage(page.changes, state.dump(), True, page.notes)
                state.advance(listed.updated_on)
            if len(items) <= LISTING_OVERLAP or offset + len(items) >= total:
                return ChangePage(page.changes, state.dump(), False, page.notes)
            offset += len(items) - LISTING_OVERLAP

    async def _emit_issue(self, listed: ListedIssue, state: RedmineCursor, page: _Page) -> bool:
        """Add the issue's unseen changes to the page; False when they did not all fit."""
        mark = state.marks.get(listed.id)
        last = mark.journal_id if mark else 0
        try:
            issue, journals, notes = await self._read_issue(listed.id)
        except (NotFound, AuthError, MalformedIssue) as exc:  # deleted, hidden, or broken
            page.notes.append(f"issue #{listed.id}: skipped ({exc.message})")
            state.mark(listed.id, listed.updated_on, last, final=True)
            return True
        settled = self.client.server_now - issue.updated_on >= SETTLE
        page.notes += notes
        await self._resolve(issue, journals)
        translator = self._translator()
        snap = translator.snapshot(issue)
        window = state.window_start()
        if mark is None and (window is None or issue.created_on >= window):
            page.changes.append(translator.created(issue, snap))
        for journal in journals:
            if journal.id <= last:
                continue
            if mark is None and window and journal.created_on < window:
                last = journal.id  # emitted by the poll that listed it
                continue
            changes = translator.journal(journal, snap)
            if page.changes and len(page.changes) + len(changes) > MAX_CHANGES:
                state.mark(issue.id, issue.updated_on, last, final=False)
                return False
            page.changes += changes
            last = journal.id
        last = max([last, *(j.id for j in journals)])
        state.mark(issue.id, issue.updated_on, last, final=settled)
        return True

    # --- writing -----------------------------------------------------------------------

    async def add_comment(
        self,
        external_id: str,
        body: str,
        visibility: Visibility,
        idempotency_key: str,
        *,
        files: Sequence[FileToSend] = (),
    ) -> str:
        """Write a public or private note (a public one with `files` attached, in the same
        journal), read it back, and return its journal id."""
        private = visibility is Visibility.INTERNAL
        if private and files:
            # Redmine has no private attachments: it splits such a PUT into a public journal
            # with the files and a private one with the text (README of the peer).
            raise NotSupported("Redmine cannot keep attachments internal: not written")
        _, journals, _ = await self._read_issue(external_id)
        existing = _newest_marked(journals, idempotency_key, None)
        if existing is not None:  # an earlier attempt got through, with all its files
            _check_visibility(existing, private, retracted=False)
            return str(existing.id)
        if private and await self._may_not_set_private_notes():
            raise WriteNotApplied(
                f"the key lacks 'set_notes_private' in {self.settings.project!r}: Redmine "
                "would publish this internal note, so it was not written"
            )
        uploads = await upload_files(self.client, files)
        me = await self._current_user()
        before = max((j.id for j in journals), default=0)
        fields: dict[str, Any] = {
            "notes": with_marker(body, idempotency_key),
            "private_notes": private,
        }
        if uploads:
            fields["uploads"] = uploads
        # One PUT: Redmine links every upload to the note's journal or, for a token it
        # cannot use, refuses the whole PUT (422) and stores no journal at all.
        await self.client.update_issue(external_id, fields)
        _, journals, _ = await self._read_issue(external_id)
        written = _newest_marked(journals, idempotency_key, me.id, after=before)
        if written is None:
            raise WriteNotApplied(
                f"Redmine accepted the note for issue #{external_id} (204) but did not store it"
            )
        if written.private_notes != private:
            retracted = private and await self._retract(written)
            _check_visibility(written, private, retracted=retracted)
        attached = sum(1 for d in written.details if d.property == "attachment")
        if attached != len(uploads):
            raise WriteNotApplied(
                f"Redmine stored the note for issue #{external_id} (journal #{written.id}) "
                f"with {attached} of its {len(uploads)} files"
            )
        return str(written.id)

    async def _may_not_set_private_notes(self) -> bool:
        permissions = await self._project_permissions()
        return permissions is not None and "set_notes_private" not in permissions

    async def _retract(self, journal: Journal) -> bool:
        """Delete a note Redmine published by mistake (empty notes remove the journal)."""
        try:
            await self.client.update_journal(journal.id, {"notes": ""})
        except ConnectorError:
            return False
        return True


class MalformedIssue(ConnectorError):
    """Redmine returned an issue that does not validate."""

    code = "malformed"


class _Page:
    def __init__(self) -> None:
        self.changes: list[TicketChange] = []
        self.notes: list[str] = []

    @property
    def full(self) -> bool:
        return len(self.changes) >= MAX_CHANGES


def _listed(raw: object, page: _Page) -> ListedIssue | None:
    try:
        return ListedIssue.model_validate(raw)
    except ValidationError as exc:
        page.notes.append(f"issue list item skipped, malformed ({_first_error(exc)})")
        return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'record'}: {error['msg']}"


def _newest_marked(
    journals: list[Journal], idempotency_key: str, author_id: int | None, after: int = 0
) -> Journal | None:
    for journal in reversed(journals):
        if journal.id <= after:
            break
        if has_marker(journal.notes, idempotency_key) and author_id in (None, _uid(journal.user)):
            return journal
    return None


def _uid(user: Ref | None) -> int | None:
    return None if user is None else user.id


def _check_visibility(journal: Journal, private: bool, *, retracted: bool) -> None:
    if journal.private_notes == private:
        return
    if not private:
        raise WriteNotApplied(f"Redmine stored the public note as private (journal #{journal.id})")
    outcome = "it was removed again" if retracted else "remove it by hand"
    raise WriteNotApplied(
        f"Redmine stored the internal note as PUBLIC (journal #{journal.id}; the key lacks "
        f"'set_notes_private'): {outcome}"
    )
