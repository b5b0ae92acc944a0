"""An in-memory Jira Service Management Cloud site built from the contract notes, served by
httpx.MockTransport.

Every behaviour names the section of `../shared/contracts/jira-sm/README.md` it reproduces;
what the contract does not pin down is marked ASSUMED, so a test never passes on the
fake's say-so alone:

- § 0: `Authorization: Basic base64(email:api_token)`; `/rest/api/3/…`, `/rest/servicedeskapi/…`.
- § 1a: `GET /rest/api/3/search/jql` (`jql`, `fields`, `maxResults`, `nextPageToken`; the
  last page has no token). ASSUMED: the JQL it understands is exactly what the connector
  sends (`project = "K"`, `id = N`, `updated >= "yyyy/MM/dd HH:mm"`, `ORDER BY updated
  ASC|DESC, id ASC`); date literals are read in the account's time zone (`query_zone`
  can make it read them in another); an unknown project is a 400 with `errorMessages`.
- § 1c: the changelog, `startAt`/`maxResults`/`isLast`/`total`.
- § 2b: request comments with `public`, `DateDTO` dates, `start`/`limit`/`isLastPage`;
  `public`/`internal` filters; customers get public comments only; no error without
  access, just nothing.
- § 2a: `DELETE /rest/api/3/issue/{id}/comment/{id}` → 204.
- § 3b: `POST /rest/servicedeskapi/request/{key}/comment` `{"body", "public"}`: agents
  choose, unlicensed accounts write internal only, customers public only. ASSUMED: what a
  customer's `public: false` does (`customer_internal`: "refuse" → 403, or "public" →
  stored public), that `public` left out means public, that a comment moves the issue's
  `updated`; `drop_comments` answers 201 and stores nothing (an automation removing it).
- § 6: 429 with `Retry-After` and `X-RateLimit-Reset` (the body is ASSUMED).
- § 7: `{"errorMessages", "errors"}` bodies.
- § 9: timestamps `2021-01-17T12:34:00.000+0000`.

ASSUMED beyond the contract: `GET /rest/servicedeskapi/servicedesk/{id}` answers
`{id, projectId, projectKey, projectName}`; `GET /rest/api/3/mypermissions` answers
`{"permissions": {KEY: {key, name, havePermission}}}`. Its clock only moves when a test
says so.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr

from connectors.base import ConnectorConfig
from connectors.jira_sm.connector import JiraSMConnector
from tests.connectors.fake_support import FakeHttp

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 28, 20, 36, 52, 250000, tzinfo=UTC)
URL = "https://acme.atlassian.net"
PROJECT = "ITSD"
DESK = "4"
TOKEN = "ATATT3xFfGF0-token"
STATUSES = {
    "Waiting for support": ("10001", "new"),
    "In Progress": ("3", "indeterminate"),
    "Waiting for customer": ("10002", "indeterminate"),
    "Resolved": ("10003", "done"),
    "Closed": ("6", "done"),
}
_TERM = re.compile(r'^(project|id|updated) (=|>=) "?([^"]*)"?$')


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def stamp(moment: datetime | str) -> str:
    """§ 9: milliseconds, offset without colon (a string is served as it is)."""
    if isinstance(moment, str):
        return moment
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def error(status: int, *messages: str) -> httpx.Response:
    """§ 7's ErrorCollection."""
    return httpx.Response(status, json={"errorMessages": list(messages), "errors": {}})


@dataclass
class Account:
    account_id: str
    name: str
    email: str
    role: str = "agent"  # agent | customer | unlicensed
    token: str | None = None
    time_zone: str = "UTC"
    permissions: set[str] = field(default_factory=lambda: {"BROWSE_PROJECTS", "ADD_COMMENTS"})

    def user(self) -> dict[str, object]:
        return {
            "accountId": self.account_id,
            "displayName": self.name,
            "emailAddress": self.email,
            "active": True,
            "timeZone": self.time_zone,
        }


class FakeJira(FakeHttp):
    """A site with the IT service desk (project ITSD, service desk 4), agents and customers."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ids = itertools.count(10001)
        self.accounts = [
            Account(
                "5b10a2844c20165700ede21g", "Socialdesk Bot", "socialdesk@example.com", token=TOKEN
            ),
            Account("5b10ac8d82e05b22cc7d4ef5", "Beth Agent", "beth@example.com", token="beth-t"),
            Account(
                "qm:a713c8ea:5ad6d3581db05e2a66fa80b",
                "Fred Customer",
                "fred@example.com",
                role="customer",
                token="fred-t",
            ),
        ]
        self.projects = {PROJECT, "HR"}
        self.desks = {DESK: PROJECT, "7": "HR"}
        self.issues: list[dict[str, Any]] = []
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.retry_after: str | None = "7"
        self.query_zone: str | None = None  # ASSUMED knob: read JQL dates in this zone
        self.customer_internal = "refuse"
        self.drop_comments = False
        self.search_page = 50

    # --- state -------------------------------------------------------------------------

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def account(self, name: str) -> Account:
        return next(a for a in self.accounts if a.name.split()[0].lower() == name)

    def create(
        self,
        summary: str,
        *,
        by: str = "fred",
        project: str = PROJECT,
        priority: str = "Medium",
        **fields: Any,
    ) -> dict[str, Any]:
        """A request raised now by a customer (Waiting for support)."""
        issue_id = str(next(self.ids))
        number = 1 + sum(1 for i in self.issues if i["project"] == project)
        issue = {
            "id": issue_id,
            "key": f"{project}-{number}",
            "project": project,
            "summary": summary,
            "description": {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": summary}]}],
            },
            "status": "Waiting for support",
            "priority": priority,
            "assignee": None,
            "reporter": self.account(by).account_id,
            "created": self.now,
            "updated": self.now,
        }
        issue.update(fields)
        self.issues.append(issue)
        self.histories[issue_id] = []
        self.comments[issue_id] = []
        return issue

    def issue(self, key_or_id: str) -> dict[str, Any] | None:
        return next((i for i in self.issues if key_or_id in (i["id"], i["key"])), None)

    def change(self, key: str, *, by: str = "beth", **fields: str | None) -> dict[str, Any]:
        """An agent edits fields in the UI: one changelog entry, `updated` moves."""
        issue = self.issue(key)
        assert issue is not None
        items = []
        for name, value in fields.items():
            old = issue.get(name)
            if name == "status":
                assert value is not None
                items.append(
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": STATUSES[str(old)][0],
                        "fromString": old,
                        "to": STATUSES[value][0],
                        "toString": value,
                    }
                )
            elif name in ("assignee", "reporter"):
                items.append(
                    {
                        "field": name,
                        "fieldtype": "jira",
                        "fieldId": name,
                        "from": old,
                        "fromString": self._name(old),
                        "to": value,
                        "toString": self._name(value),
                    }
                )
            else:
                items.append(
                    {
                        "field": name,
                        "fieldtype": "jira",
                        "fieldId": name,
                        "from": None,
                        "fromString": old,
                        "to": None,
                        "toString": value,
                    }
                )
            issue[name] = value
        self.histories[issue["id"]].append(
            {
                "id": str(next(self.ids)),
                "author": self._user(self.account(by).account_id),
                "created": stamp(self.now),
                "items": items,
            }
        )
        issue["updated"] = self.now
        return issue

    def comment(self, key: str, body: str, *, public: bool, by: str = "beth") -> dict[str, Any]:
        issue = self.issue(key)
        assert issue is not None
        return self._add_comment(issue, body, public, self.account(by))

    def _add_comment(
        self, issue: dict[str, Any], body: str, public: bool, account: Account
    ) -> dict[str, Any]:
        comment = {
            "id": str(next(self.ids)),
            "body": body,
            "public": public,
            "author": account.account_id,
            "created": self.now,
        }
        self.comments[issue["id"]].append(comment)
        issue["updated"] = self.now  # ASSUMED: a comment moves `updated`
        return comment

    def _name(self, account_id: str | None) -> str | None:
        return next((a.name for a in self.accounts if a.account_id == account_id), None)

    def _user(self, account_id: str | None) -> dict[str, object] | None:
        found = next((a for a in self.accounts if a.account_id == account_id), None)
        return found.user() if found else None

    # --- HTTP --------------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> httpx.Response:
        account = self._authenticate(request.headers.get("Authorization", ""))
        if account is None:  # § 7; the exact text is ASSUMED
            return error(401, "Client must be authenticated to access this resource.")
        path, method = request.url.path, request.method
        routes: list[tuple[str, str, Callable[..., httpx.Response]]] = [
            ("GET", r"/rest/api/3/myself", self._myself),
            ("GET", r"/rest/api/3/mypermissions", self._mypermissions),
            ("GET", r"/rest/api/3/search/jql", self._search),
            ("GET", r"/rest/api/3/issue/([^/]+)", self._get_issue),
            ("GET", r"/rest/api/3/issue/([^/]+)/changelog", self._changelog),
            ("DELETE", r"/rest/api/3/issue/([^/]+)/comment/([^/]+)", self._delete_comment),
            ("GET", r"/rest/servicedeskapi/servicedesk/([^/]+)", self._desk),
            ("GET", r"/rest/servicedeskapi/request/([^/]+)/comment", self._list_comments),
            ("POST", r"/rest/servicedeskapi/request/([^/]+)/comment", self._post_comment),
        ]
        for verb, pattern, handler in routes:
            found = re.fullmatch(pattern, path)
            if found and verb == method:
                return handler(request, account, *found.groups())
        return error(404, "Not found")

    def _throttle(self) -> httpx.Response:
        """§ 6: 429 with `Retry-After` and `X-RateLimit-Reset` (body ASSUMED)."""
        reset = (self.now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%MZ")
        headers = {"X-RateLimit-Reset": reset, "RateLimit-Reason": "jira-quota-based"}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return httpx.Response(429, json={"message": "Rate limit exceeded"}, headers=headers)

    def _authenticate(self, header: str) -> Account | None:
        scheme, _, value = header.partition(" ")
        if scheme != "Basic":
            return None
        try:
            email, _, token = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return next((a for a in self.accounts if (a.email, a.token) == (email, token)), None)

    def _myself(self, request: httpx.Request, account: Account) -> httpx.Response:
        return httpx.Response(200, json=account.user())

    def _mypermissions(self, request: httpx.Request, account: Account) -> httpx.Response:
        names = {"BROWSE_PROJECTS": "Browse Projects", "ADD_COMMENTS": "Add Comments"}
        wanted = request.url.params.get("permissions", "").split(",")
        body = {
            k: {
                "key": k,
                "name": names.get(k, k),
                "type": "PROJECT",
                "havePermission": k in account.permissions,
            }
            for k in wanted
            if k
        }
        return httpx.Response(200, json={"permissions": body})

    def _desk(self, request: httpx.Request, account: Account, desk_id: str) -> httpx.Response:
        project = self.desks.get(desk_id)
        if project is None:
            return httpx.Response(404, json={"errorMessage": "Service desk not found"})
        return httpx.Response(
            200,
            json={
                "id": desk_id,
                "projectId": "10000",
                "projectKey": project,
                "projectName": project,
            },
        )

    def _visible(self, account: Account) -> list[dict[str, Any]]:
        return [i for i in self.issues if "BROWSE_PROJECTS" in account.permissions]

    def _search(self, request: httpx.Request, account: Account) -> httpx.Response:
        params = request.url.params
        jql = params.get("jql", "")
        where, _, order = jql.partition(" ORDER BY ")
        rows = self._visible(account)
        zone = ZoneInfo(self.query_zone or account.time_zone)
        for term in filter(None, where.split(" AND ")):
            found = _TERM.match(term)
            if found is None:
                return error(400, f"Error in the JQL Query: {term!r}")
            name, _, value = found.groups()
            if name == "project":
                if value not in self.projects:
                    return error(
                        400, f"The value '{value}' does not exist for the field 'project'."
                    )
                rows = [r for r in rows if r["project"] == value]
            elif name == "id":
                rows = [r for r in rows if r["id"] == value]
            else:  # minute resolution, in the zone (ASSUMED)
                local = datetime.strptime(value, "%Y/%m/%d %H:%M").replace(tzinfo=zone)
                rows = [r for r in rows if r["updated"] >= local]
        rows.sort(key=lambda r: int(r["id"]))
        rows.sort(key=lambda r: r["updated"], reverse="updated DESC" in order)
        start = int(base64.b64decode(params.get("nextPageToken", "") or b"MA==").decode())
        limit = min(int(params.get("maxResults", "50")), self.search_page)
        chosen = rows[start : start + limit]
        body: dict[str, Any] = {
            "issues": [self._shape(r, params) for r in chosen],
            "isLast": start + limit >= len(rows),
        }
        if start + limit < len(rows):
            body["nextPageToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return httpx.Response(200, json=body)

    def _shape(self, issue: dict[str, Any], params: httpx.QueryParams) -> dict[str, Any]:
        status_id, category = STATUSES[issue["status"]]
        every = {
            "summary": issue["summary"],
            "description": issue["description"],
            "status": {
                "id": status_id,
                "name": issue["status"],
                "statusCategory": {"key": category},
            },
            "priority": {"id": "3", "name": issue["priority"]},
            "assignee": self._user(issue["assignee"]),
            "reporter": self._user(issue["reporter"]),
            "project": {"key": issue["project"]},
            "created": stamp(issue["created"]),
            "updated": stamp(issue["updated"]),
        }
        wanted = params.get("fields", "id").split(",")
        fields = {k: v for k, v in every.items() if k in wanted}
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": f"{URL}/rest/api/3/issue/{issue['id']}",
            "fields": fields,
        }

    def _get_issue(self, request: httpx.Request, account: Account, key: str) -> httpx.Response:
        issue = self.issue(key)
        if issue is None or issue not in self._visible(account):
            return error(404, "Issue does not exist or you do not have permission to see it.")
        return httpx.Response(200, json=self._shape(issue, request.url.params))

    def _changelog(self, request: httpx.Request, account: Account, key: str) -> httpx.Response:
        issue = self.issue(key)
        if issue is None:
            return error(404, "Issue does not exist or you do not have permission to see it.")
        values = self.histories[issue["id"]]
        start = int(request.url.params.get("startAt", "0"))
        limit = min(int(request.url.params.get("maxResults", "100")), 100)
        chosen = values[start : start + limit]
        return httpx.Response(
            200,
            json={
                "startAt": start,
                "maxResults": limit,
                "total": len(values),
                "values": chosen,
                "isLast": start + limit >= len(values),
            },
        )

    def _comment_dto(self, comment: dict[str, Any]) -> dict[str, Any]:
        created: datetime = comment["created"]
        return {
            "id": comment["id"],
            "body": comment["body"],
            "public": comment["public"],
            "author": self._user(comment["author"]),
            "created": {
                "iso8601": created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                "epochMillis": int(created.timestamp() * 1000),
            },
        }

    def _list_comments(self, request: httpx.Request, account: Account, key: str) -> httpx.Response:
        issue = self.issue(key)
        params = request.url.params
        values = [] if issue is None else self.comments[issue["id"]]
        wanted = {params.get("public", "true") == "true": True}
        if params.get("internal", "true") == "true" and account.role != "customer":
            wanted[False] = True
        values = [c for c in values if c["public"] in wanted]
        start = int(params.get("start", "0"))
        limit = min(int(params.get("limit", "50")), 50)  # ASSUMED cap
        chosen = values[start : start + limit]
        return httpx.Response(
            200,
            json={
                "_expands": [],
                "size": len(chosen),
                "start": start,
                "limit": limit,
                "isLastPage": start + limit >= len(values),
                "values": [self._comment_dto(c) for c in chosen],
            },
        )

    def _post_comment(self, request: httpx.Request, account: Account, key: str) -> httpx.Response:
        issue = self.issue(key)
        if issue is None:
            return httpx.Response(404, json={"errorMessage": "Request not found"})
        if "ADD_COMMENTS" not in account.permissions:
            return error(403, "You do not have the permission to comment on this issue.")
        body = json.loads(request.content)
        public = body.get("public", True) is not False
        if account.role == "unlicensed":
            public = False
        elif account.role == "customer" and not public:
            if self.customer_internal == "refuse":
                return error(403, "Customers cannot add internal comments.")
            public = True
        if self.drop_comments:
            return httpx.Response(
                201, json={"id": str(next(self.ids)), "body": body["body"], "public": public}
            )
        comment = self._add_comment(issue, str(body.get("body", "")), public, account)
        return httpx.Response(201, json=self._comment_dto(comment))

    def _delete_comment(
        self, request: httpx.Request, account: Account, key: str, comment_id: str
    ) -> httpx.Response:
        issue = self.issue(key)
        if issue is None:
            return error(404, "Issue not found")
        before = len(self.comments[issue["id"]])
        self.comments[issue["id"]] = [
            c for c in self.comments[issue["id"]] if c["id"] != comment_id
        ]
        if len(self.comments[issue["id"]]) == before:
            return error(404, "Comment not found")
        return httpx.Response(204)


def make_connector(
    fake: FakeJira,
    *,
    email: str = "socialdesk@example.com",
    token: str | None = TOKEN,
    url: str = URL,
    **settings: str,
) -> JiraSMConnector:
    """A connector wired to the fake through `httpx.MockTransport`."""
    secrets = {"email": email}
    if token is not None:
        secrets["api_token"] = token
    config = ConnectorConfig(
        url=url,
        secrets={k: SecretStr(v) for k, v in secrets.items()},
        settings={"project": PROJECT, "service_desk_id": DESK, **settings},
    )
    return JiraSMConnector(config, httpx.AsyncClient(transport=fake.transport()))


def searches(fake: FakeJira) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path == "/rest/api/3/search/jql"]
