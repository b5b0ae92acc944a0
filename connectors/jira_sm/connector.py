"""The Jira Service Management connector: polls one project's requests, writes back.

Section numbers are those of contracts/jira-sm/README.md. The poll lists the project's
issues by JQL on `updated` (§ 1a, see `cursor.py`), reads the changelog (§ 1c) and the
servicedeskapi request comments with their `public` flag (§ 2b) of the changed ones.
Comments are written through the servicedeskapi with `public` always given (§ 3b: the
platform API would make them public), then read back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import ValidationError

from connectors.base import (
    Capability,
    ChangePage,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    NotFound,
    TicketSnapshot,
    Visibility,
)
from connectors.feed import Page
from connectors.http import InvalidRequest, first_request_failed
from connectors.jira_sm.changes import IssueTranslator
from connectors.jira_sm.client import JiraClient
from connectors.jira_sm.config import JiraSMConfig
from connectors.jira_sm.cursor import JiraCursor
from connectors.jira_sm.mapping import CATEGORY_MAP, PRIORITY_MAP, STATUS_MAP
from connectors.jira_sm.models import (
    ISSUE_FIELDS,
    History,
    Issue,
    RequestComment,
    User,
    first_error,
)
from connectors.jira_sm.poll import emit_issue, jql_minute, listing_jql
from connectors.jira_sm.writing import write_comment

MAX_LISTINGS = 200  # search requests per call; the cursor resumes where they stopped
UTC_ZONE = ZoneInfo("UTC")
# Jira permission keys the connector needs, with their names in Jira's UI (ASSUMED
# endpoint `GET /rest/api/3/mypermissions`, not in the contract notes).
PERMISSIONS = {"BROWSE_PROJECTS": "Browse Projects", "ADD_COMMENTS": "Add Comments"}
T = TypeVar("T", History, RequestComment)
TIME_ZONE_REFUSAL = (
    "Jira does not read the poll's JQL time filter in the account's time zone ({zone}), so "
    "the poll would miss changes: set the account's time zone in its Atlassian profile"
)


class JiraSMConnector(Connector):
    kind = "jira_sm"
    display_name = "Jira Service Management"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
        }
    )
    # Checked with the first request (config.py), so check() can say which is missing.
    required_secrets = ()
    required_settings = ("project", "service_desk_id")
    status_map: ClassVar[dict[str, NormalizedStatus]] = dict(STATUS_MAP)
    priority_map: ClassVar[dict[str, NormalizedPriority]] = dict(PRIORITY_MAP)

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.settings = JiraSMConfig.from_connector_config(config)
        self.project = self.settings.project
        self._client: JiraClient | None = None
        self._zone: ZoneInfo | None = None
        # Status id → statusCategory key, learnt from the issues read (changelog entries
        # name statuses by id and name only, § 1c).
        self._categories: dict[str, str] = {}

    @property
    def client(self) -> JiraClient:
        """The REST client; a missing e-mail or API token raises ConfigError here."""
        if self._client is None:
            self._client = JiraClient(self.http, self.settings.url, self.settings.authorization())
        return self._client

    # --- health ------------------------------------------------------------------------

    async def check(self) -> Health:
        """Reachable, credentials accepted, service desk and project found, permissions held."""
        try:
            client = self.client
        except ConfigError as exc:  # nothing was sent: reachability is not known either
            return Health(False, False, False, exc.message)
        try:
            me = await self._myself()
        except ConnectorError as exc:  # unreachable, throttled, 401, or not a Jira site
            return first_request_failed(exc)
        identity = f"jira_sm:{self.settings.url}:servicedesk:{self.settings.service_desk_id}"
        try:
            await self._the_service_desk(client)
            newest = await self._newest_issue()
            missing = await self._missing_permissions(client)
            if missing:
                return Health(True, True, False, missing)
            if newest is not None and not await self._filter_finds(newest):
                zone = me.timeZone or "not visible"
                return Health(True, True, False, TIME_ZONE_REFUSAL.format(zone=zone), identity)
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        detail = f"project {self.project}, service desk {self.settings.service_desk_id} OK"
        if not me.emailAddress:
            detail += "; the account's e-mail is hidden by its profile visibility"
        return Health(True, True, True, detail, identity)

    async def _myself(self) -> User:
        data = await self.client.get_json("/rest/api/3/myself", "read its own profile")
        try:
            me = User.model_validate(data)
        except ValidationError:
            raise ConfigError(
                f"{self.settings.url} answered /rest/api/3/myself without an account: is it "
                "the Jira site URL?"
            ) from None
        try:
            self._zone = ZoneInfo(me.timeZone) if me.timeZone else UTC_ZONE
        except (ZoneInfoNotFoundError, ValueError):
            self._zone = UTC_ZONE
        return me

    async def _the_service_desk(self, client: JiraClient) -> None:
        """The configured service desk exists and is the configured project (ASSUMED API)."""
        desk_id = self.settings.service_desk_id
        try:
            desk = await client.get_json(
                f"/rest/servicedeskapi/servicedesk/{desk_id}", f"read service desk {desk_id}"
            )
        except NotFound:
            raise ConfigError(
                f"Jira has no service desk with id {desk_id!r} visible to the account"
            ) from None
        key = desk.get("projectKey")
        if key != self.project:
            raise ConfigError(
                f"service desk {desk_id} is project {key!r}, not {self.project!r}: give the "
                "id of the project's service desk"
            )

    async def _newest_issue(self) -> Issue | None:
        try:
            issues, _ = await self.client.search(
                f'project = "{self.project}" ORDER BY updated DESC',
                ISSUE_FIELDS,
                f"search project {self.project}",
                limit=1,
            )
        except InvalidRequest as exc:
            raise ConfigError(
                f"Jira has no project {self.project!r} the account may browse ({exc.message})"
            ) from None
        issue = self._issue(issues[0], []) if issues else None
        return issue if issue is not None and issue.fields.project.key == self.project else None

    async def _missing_permissions(self, client: JiraClient) -> str:
        """Which Jira permissions the account lacks in the project, by Jira's names."""
        data = await client.get_json(
            "/rest/api/3/mypermissions",
            "read its permissions",
            {"projectKey": self.project, "permissions": ",".join(PERMISSIONS)},
        )
        held = data.get("permissions")
        held = held if isinstance(held, dict) else {}
        missing = []
        for key, name in PERMISSIONS.items():
            entry = held.get(key)
            if not (isinstance(entry, dict) and entry.get("havePermission") is True):
                label = entry.get("name", name) if isinstance(entry, dict) else name
                missing.append(f"'{label}' ({key})")
        if not missing:
            return ""
        return (
            f"the account lacks the Jira permission {', '.join(missing)} in project "
            f"{self.project}: make it an agent of the service desk"
        )

    async def _filter_finds(self, issue: Issue) -> bool:
        """Whether `updated >= "<its own minute>"` (in the account's zone) finds the newest issue.

        The contract leaves the zone of JQL date literals open (§ 1a). Read in another zone
        than the one written, the filter could start late and skip changes.
        """
        zone = await self._the_zone()
        jql = f'id = {issue.id} AND updated >= "{jql_minute(issue.fields.updated, zone)}"'
        found, _ = await self.client.search(jql, "id", "test the time filter", limit=1)
        return any(isinstance(i, dict) and i.get("id") == issue.id for i in found)

    async def _the_zone(self) -> ZoneInfo:
        if self._zone is None:
            await self._myself()
        return self._zone or UTC_ZONE

    # --- reading -----------------------------------------------------------------------

    def _status_of(self, name: str, status_id: str) -> NormalizedStatus:
        """Overrides by name or id, the JSM status names, then the status's category."""
        for key in (name, status_id):
            if key and key.casefold() in self._status_overrides:
                return self._status_overrides[key.casefold()]
        for known, value in STATUS_MAP.items():
            if known.casefold() == name.casefold():
                return value
        return CATEGORY_MAP.get(self._categories.get(status_id, ""), "open")

    def _translator(self) -> IssueTranslator:
        return IssueTranslator(self._status_of, self.normalize_priority, self.settings.url)

    def _issue(self, raw: object, notes: list[str]) -> Issue | None:
        try:
            issue = Issue.model_validate(raw)
        except ValidationError as exc:
            issue_id = raw.get("key") or raw.get("id") if isinstance(raw, dict) else None
            notes.append(f"issue {issue_id!r}: skipped, malformed ({first_error(exc)})")
            return None
        status = issue.fields.status
        if status.id and status.statusCategory.key:
            self._categories[status.id] = status.statusCategory.key
        return issue

    async def _find(self, external_id: str) -> Issue:
        """An issue of the project by key or id."""
        what = f"read issue {external_id}"
        if not external_id or not external_id.replace("-", "").isalnum():
            raise NotFound(f"Jira has no issue {external_id!r}")
        data = await self.client.get_json(
            f"/rest/api/3/issue/{external_id}", what, {"fields": ISSUE_FIELDS}
        )
        issue = self._issue(data, [])
        if issue is None or issue.fields.project.key != self.project:
            raise NotFound(f"project {self.project} has no issue {external_id!r}")
        return issue

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The issue's current state."""
        return self._translator().snapshot(await self._find(external_id))

    async def cursor_at(self, moment: datetime) -> str:
        """A cursor that starts at `moment`: what was updated before it is not mirrored."""
        return JiraCursor(since=moment + timedelta(seconds=60)).dump()

    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next ≤100 changes: issues in (`updated`, `id`) order."""
        state = JiraCursor.parse(cursor)
        zone = await self._the_zone()
        page = Page()
        window = state.window_start()
        jql = listing_jql(self.project, window, zone)
        token: str | None = None
        for _ in range(MAX_LISTINGS):
            raw, token = await self.client.search(jql, ISSUE_FIELDS, "list issues", token=token)
            issues = [i for i in (self._issue(r, page.notes) for r in raw) if i is not None]
            for issue in issues:
                # A JQL part Jira ignored must not widen the sync to other projects.
                if issue.fields.project.key != self.project:
                    continue
                if not state.is_current(issue.id, issue.fields.updated):
                    if page.full:
                        return ChangePage(page.changes, state.dump(), True, page.notes)
                    histories = await self.histories(issue, page.notes)
                    comments = await self.comments(issue.id, page.notes)
                    translator = self._translator()
                    if not emit_issue(translator, issue, histories, comments, state, page):
                        return ChangePage(page.changes, state.dump(), True, page.notes)
                state.advance(issue.fields.updated, issue.id)
            if token is None:
                return ChangePage(page.changes, state.dump(), False, page.notes)
        return ChangePage(page.changes, state.dump(), True, page.notes)

    async def histories(self, issue: Issue, notes: list[str]) -> list[History]:
        """The issue's changelog (§ 1c), every page."""
        rows = await self.client.offset_pages(
            f"/rest/api/3/issue/{issue.id}/changelog",
            f"read the changelog of {issue.key}",
            values="values",
            style="platform",
        )
        return _valid(History, rows, f"{issue.key} changelog entry", notes)

    async def comments(self, issue_id: str, notes: list[str]) -> list[RequestComment]:
        """The request's public and internal comments (§ 2b), every page."""
        rows = await self.client.offset_pages(
            f"/rest/servicedeskapi/request/{issue_id}/comment",
            f"read the comments of request {issue_id}",
            values="values",
            style="jsm",
            params={"public": "true", "internal": "true"},
        )
        return _valid(RequestComment, rows, f"issue {issue_id} comment", notes)

    # --- writing -----------------------------------------------------------------------

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        """Write a public reply or internal comment with `public` explicit; read it back."""
        issue = await self._find(external_id)
        return await write_comment(self, issue, body, visibility, idempotency_key)


def _valid(model: type[T], rows: list[Any], label: str, notes: list[str]) -> list[T]:
    found = []
    for row in rows:
        try:
            found.append(model.model_validate(row))
        except ValidationError as exc:
            item_id = row.get("id") if isinstance(row, dict) else None
            notes.append(f"{label} {item_id!r}: skipped, malformed ({first_error(exc)})")
    return found
