"""An in-memory ServiceNow Table API built from the contract notes, served by MockTransport.

Every behaviour names the section of `../shared/contracts/servicenow/README.md` it
reproduces; what the contract does not pin down is marked ASSUMED, so a test never
passes on the fake's say-so alone:

- § 0: `/api/now/table/<table>[/<sys_id>]`, HTTP Basic or `Authorization: Bearer`.
- § 1: `sysparm_query` (terms joined by `^`: `field=value`, `field>value`, `fieldINa,b`,
  `ORDERBY<field>`, `ORDERBYDESC<field>`); "if part of the query is invalid, such as by
  specifying an invalid field name, the instance ignores the invalid part"; `sysparm_fields`,
  `sysparm_limit`/`sysparm_offset`, `sysparm_exclude_reference_link`; every value a string,
  references `{"link", "value"}`; the `Link` header (first/prev/next/last, omitted when
  there is only one page) and `X-Total-Count`.
- § 2: journal entries are `sys_journal_field` rows (`element`, `element_id`, `name`,
  `sys_created_by` = user name, `sys_created_on`, `value`).
- § 3: a PATCH of `comments` / `work_notes` adds one journal row; answers `{"result": …}`.
- § 6: 429 with `Retry-After` and `X-RateLimit-*` headers (the body is ASSUMED).
- § 7: 400 for an unknown table (message ASSUMED), 401/403 with the error envelope.
- § 9: date-times `YYYY-MM-DD HH:MM:SS` (ASSUMED UTC, as the connector reads them).

ASSUMED beyond the contract: field-level write ACLs make a PATCH silently skip a field
(200, record unchanged) — the behaviour the connector's read-back guards against; a
record update bumps `sys_mod_count` and `sys_updated_on`; table read ACLs by role (`itil`).
Its clock only moves when a test says so.
"""

from __future__ import annotations

import base64
import itertools
import json
import operator
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from connectors.base import ConnectorConfig
from connectors.servicenow.connector import ServiceNowConnector
from tests.connectors.fake_support import FakeHttp

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 28, 20, 36, 52, tzinfo=UTC)
URL = "https://acme.service-now.com"
SERVICE_DESK = "d625dccec0a8016700a222a0f7900d06"
NETWORK = "287ebd7da9fe198100f92cc8d1d2154e"
REFERENCES = {"caller_id", "opened_by", "assigned_to", "assignment_group"}
INCIDENT_FIELDS = [
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "priority",
    "impact",
    "urgency",
    "active",
    "category",
    "caller_id",
    "opened_by",
    "assigned_to",
    "assignment_group",
    "sys_created_on",
    "sys_updated_on",
    "sys_created_by",
    "sys_updated_by",
    "sys_mod_count",
    "comments",
    "work_notes",
    "comments_and_work_notes",
    "watch_list",
    "work_notes_list",
]
JOURNAL = [
    "sys_id",
    "element",
    "element_id",
    "name",
    "sys_created_by",
    "sys_created_on",
    "sys_tags",
    "value",
]
USER = ["sys_id", "user_name", "name", "email"]
GROUP = ["sys_id", "name"]
_TERM = re.compile(r"^([a-z0-9_]+)(IN|=|>|<)(.*)$")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def error(status: int, message: str, detail: str | None) -> httpx.Response:
    """§ 7's envelope."""
    body = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return httpx.Response(status, json=body)


@dataclass
class Account:
    sys_id: str
    user_name: str
    name: str
    email: str
    password: str = "s3cret-pass"
    token: str | None = None
    roles: set[str] = field(default_factory=set)
    # Fields a PATCH by this account silently skips (ASSUMED: a field-level write ACL).
    cannot_write: set[str] = field(default_factory=set)


class FakeServiceNow(FakeHttp):
    """An instance with an `incident` table, the Service Desk and Network groups and users."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ids = (f"{n:032x}" for n in itertools.count(0xA000))
        self.numbers = itertools.count(10001)
        self.accounts = [
            Account("6816f79cc0a8016401c5a33be04be441", "admin", "System Administrator",
                    "admin@example.com", roles={"admin"}),
            Account("46d44a23a9fe19810012d100cca80666", "beth.anglin", "Beth Anglin",
                    "beth.anglin@example.com", roles={"itil"}),
            Account("62826bf03710200044e0bfc8bcbe5df1", "abel.tuter", "Abel Tuter",
                    "abel.tuter@example.com"),
            Account("5137153cc611227c000bbd1bd8cd2005", "socialdesk.integration",
                    "Socialdesk Integration", "socialdesk@example.com",
                    token="oauth-token-0123", roles={"itil"}),
        ]  # fmt: skip
        self.schemas: dict[str, list[str]] = {
            "incident": INCIDENT_FIELDS,
            "sys_journal_field": JOURNAL,
            "sys_user": USER,
            "sys_user_group": GROUP,
            # A custom table without the task fields: no assignment_group to scope by.
            "u_facilities_request": ["sys_id", "number", "short_description", "sys_updated_on"],
        }
        # Tables and the role that may read them (ASSUMED ACLs); admin reads everything.
        self.read_roles = {"incident": "itil", "sys_journal_field": "itil",
                           "sys_user_group": "itil", "sys_user": "itil"}  # fmt: skip
        self.rows: dict[str, list[dict[str, str]]] = {name: [] for name in self.schemas}
        self.rows["sys_user"] = [
            {"sys_id": a.sys_id, "user_name": a.user_name, "name": a.name, "email": a.email}
            for a in self.accounts
        ]
        self.rows["sys_user_group"] = [
            {"sys_id": SERVICE_DESK, "name": "Service Desk"},
            {"sys_id": NETWORK, "name": "Network"},
        ]
        # ASSUMED (§ 9 leaves it open): a date in a query read in the account's time zone,
        # this many hours from UTC (0: read as UTC, as the connector writes it).
        self.query_zone_hours = 0
        # Fields whose query terms this instance ignores, as it ignores invalid ones (§ 1).
        self.ignored_fields: set[str] = set()
        self.retry_after: str | None = "7"

    # --- state -------------------------------------------------------------------------

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def account(self, user_name: str) -> Account:
        return next(a for a in self.accounts if a.user_name == user_name)

    def create(
        self,
        short_description: str,
        *,
        by: str = "abel.tuter",
        group: str = SERVICE_DESK,
        **fields: str,
    ) -> dict[str, str]:
        """An incident opened now (New, priority from impact/urgency 3/3 → 5 unless given)."""
        caller = self.account(by).sys_id
        record = dict.fromkeys(INCIDENT_FIELDS, "")
        record.update(
            sys_id=next(self.ids),
            number=f"INC{next(self.numbers):07d}",
            short_description=short_description,
            state="1",
            impact="3",
            urgency="3",
            priority="5",
            active="true",
            caller_id=caller,
            opened_by=caller,
            assignment_group=group,
            sys_created_on=stamp(self.now),
            sys_updated_on=stamp(self.now),
            sys_created_by=by,
            sys_updated_by=by,
            sys_mod_count="0",
        )
        record.update(fields)
        self.rows["incident"].append(record)
        return record

    def record(self, sys_id: str, table: str = "incident") -> dict[str, str]:
        return next(r for r in self.rows[table] if r["sys_id"] == sys_id)

    def update(self, sys_id: str, *, by: str = "beth.anglin", **fields: str) -> dict[str, str]:
        """An update by a user in the UI: values set, the record's update stamps moved."""
        record = self.record(sys_id)
        for name in ("comments", "work_notes"):
            if fields.get(name):
                self._journal(record, name, fields.pop(name), by)
        record.update(fields)
        self._touch(record, by)
        return record

    def _touch(self, record: dict[str, str], by: str) -> None:
        record["sys_updated_on"] = stamp(self.now)
        record["sys_updated_by"] = by
        record["sys_mod_count"] = str(int(record["sys_mod_count"] or 0) + 1)

    def _journal(self, record: dict[str, str], element: str, text: str, by: str) -> None:
        self.rows["sys_journal_field"].append(
            {
                "sys_id": next(self.ids),
                "element": element,
                "element_id": record["sys_id"],
                "name": "incident",
                "sys_created_by": by,
                "sys_created_on": stamp(self.now),
                "sys_tags": "",
                "value": text,
            }
        )

    def journal(self, sys_id: str) -> list[dict[str, str]]:
        return [j for j in self.rows["sys_journal_field"] if j["element_id"] == sys_id]

    def load_readme_incident(self) -> dict[str, str]:
        """The incident of § 2's journal rows, with those two rows (their own times)."""
        entries = fixture("journal_entries.json")["result"]
        self.now = datetime(2019, 9, 26, 21, 0, 0, tzinfo=UTC)
        record = self.create("Email server down", by="admin", sys_id=entries[0]["element_id"],
                             impact="1", urgency="1", priority="1")  # fmt: skip
        record.update(sys_updated_on="2019-09-26 21:19:11", sys_updated_by="admin",
                      sys_mod_count="2")  # fmt: skip
        self.rows["sys_journal_field"] += [dict(e) for e in entries]
        self.now = datetime(2019, 9, 26, 21, 30, 0, tzinfo=UTC)
        return record

    # --- HTTP --------------------------------------------------------------------------

    def _every_answer(self, response: httpx.Response) -> None:
        response.headers["Date"] = format_datetime(self.now, usegmt=True)

    def _route(self, request: httpx.Request) -> httpx.Response:
        account = self._authenticate(request.headers.get("Authorization", ""))
        if account is None:
            body = fixture("error_bodies.json")["401"]
            return httpx.Response(401, json=body)
        parts = request.url.path.strip("/").split("/")
        if parts[:3] != ["api", "now", "table"] or len(parts) not in (4, 5):
            return error(400, "Requested URI does not represent any resource", None)
        table = parts[3]
        if table not in self.schemas:  # § 7: 400; the message text is ASSUMED
            return error(400, f"Invalid table {table}", None)
        role = self.read_roles.get(table)
        if role and not account.roles & {role, "admin"}:
            return httpx.Response(403, json=fixture("error_bodies.json")["403"])
        if len(parts) == 5:
            return self._one(request, account, table, parts[4])
        if request.method != "GET":
            return error(405, "Method not Supported", None)
        return self._list(request, table)

    def _throttle(self) -> httpx.Response:
        """§ 6: 429 with `Retry-After`; the headers of a matched rule (body ASSUMED)."""
        reset = int((self.now + timedelta(seconds=7)).timestamp())
        headers = {
            "X-RateLimit-Limit": "1000",
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Rule": "bc0d8b4ec0a8016400e0c6ce9a7f2f1c",
        }
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        body = {"error": {"message": "Rate limit exceeded", "detail": None}, "status": "failure"}
        return httpx.Response(429, json=body, headers=headers)

    def _authenticate(self, header: str) -> Account | None:
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return next((a for a in self.accounts if a.token and a.token == value), None)
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return next(
                (a for a in self.accounts if (a.user_name, a.password) == (user, password)), None
            )
        return None

    def _matches(self, table: str, query: str) -> list[dict[str, str]]:
        """Rows of `table` for an encoded query; invalid terms are ignored (§ 1)."""
        schema = self.schemas[table]
        rows = list(self.rows[table])
        # ASSUMED: rows that tie on every ORDERBY field come in no set order, which may
        # differ from one request to the next (a database sort without a unique key).
        random.Random(len(self.requests)).shuffle(rows)
        order: list[tuple[str, bool]] = []
        for term in filter(None, query.split("^")):
            if term.startswith("ORDERBY"):
                desc = term.startswith("ORDERBYDESC")
                name = term.removeprefix("ORDERBYDESC" if desc else "ORDERBY")
                if name in schema:
                    order.append((name, desc))
                continue
            found = _TERM.match(term)
            if (
                found is None
                or found.group(1) not in schema
                or found.group(1) in self.ignored_fields
            ):
                continue  # ignored, not refused
            name, op, value = found.groups()
            if name.endswith("_on") and op in "<>" and self.query_zone_hours:
                local = datetime.fromisoformat(value.replace(" ", "T"))
                value = stamp((local - timedelta(hours=self.query_zone_hours)).replace(tzinfo=UTC))
            rows = [r for r in rows if _compare(r.get(name, ""), op, value)]
        for name, desc in reversed(order):  # stable sorts: the first ORDERBY wins
            rows.sort(key=operator.itemgetter(name), reverse=desc)
        return rows

    def _list(self, request: httpx.Request, table: str) -> httpx.Response:
        params = request.url.params
        rows = self._matches(table, params.get("sysparm_query", ""))
        offset = int(params.get("sysparm_offset", "0") or 0)
        limit = int(params.get("sysparm_limit", "10000") or 10000)  # § 1: capped at 10,000
        chosen = rows[offset : offset + limit]
        links = self._links(request, offset, limit, len(rows))
        headers = {"X-Total-Count": str(len(rows))}
        if links:
            headers["Link"] = links
        body = {"result": [self._shape(table, r, params) for r in chosen]}
        return httpx.Response(200, json=body, headers=headers)

    def _links(self, request: httpx.Request, offset: int, limit: int, total: int) -> str:
        """§ 1 Pagination headers: first, prev, next, last; no header for a single page."""
        if total <= limit and offset == 0:
            return ""
        last = max(0, (total - 1) // limit * limit)
        wanted = [("first", 0)]
        if offset > 0:
            wanted.append(("prev", max(0, offset - limit)))
        if offset + limit < total:
            wanted.append(("next", offset + limit))
        wanted.append(("last", last))
        base = dict(request.url.params)
        links = []
        for rel, at in wanted:
            query = urlencode({**base, "sysparm_offset": at, "sysparm_limit": limit})
            links.append(f'<{URL}{request.url.path}?{query}>;rel="{rel}"')
        return ",".join(links)

    def _shape(
        self, table: str, row: dict[str, str], params: httpx.QueryParams
    ) -> dict[str, object]:
        """The fields asked for (those the table has), references as § 1 shows them."""
        wanted = [f for f in params.get("sysparm_fields", "").split(",") if f]
        names = [f for f in wanted if f in self.schemas[table]] or self.schemas[table]
        plain = params.get("sysparm_exclude_reference_link") == "true"
        shaped: dict[str, object] = {}
        for name in names:
            value = row.get(name, "")
            if name in REFERENCES and value and not plain:
                target = "sys_user_group" if name == "assignment_group" else "sys_user"
                shaped[name] = {"link": f"{URL}/api/now/table/{target}/{value}", "value": value}
            else:
                shaped[name] = value
        return shaped

    def _one(
        self, request: httpx.Request, account: Account, table: str, sys_id: str
    ) -> httpx.Response:
        row = next((r for r in self.rows[table] if r["sys_id"] == sys_id), None)
        if row is None:
            return error(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        if request.method == "PATCH":
            self._patch(account, table, row, json.loads(request.content))
        elif request.method != "GET":
            return error(405, "Method not Supported", None)
        return httpx.Response(200, json={"result": self._shape(table, row, request.url.params)})

    def _patch(
        self, account: Account, table: str, row: dict[str, str], fields: dict[str, str]
    ) -> None:
        """§ 3: journal fields add a row; fields the account may not write are skipped."""
        changed = False
        for name, value in fields.items():
            if name in account.cannot_write or name not in self.schemas[table]:
                continue  # silently: 200 and the record as it was (ASSUMED, see above)
            if name in ("comments", "work_notes"):
                if value:
                    self._journal(row, name, value, account.user_name)
                    changed = True
            elif row.get(name) != value:
                row[name] = value
                changed = True
        if changed:
            self._touch(row, account.user_name)


def _compare(actual: str, op: str, value: str) -> bool:
    if op == "IN":
        return actual in value.split(",")
    if op == "=":
        return actual == value
    if op == ">":
        return actual > value  # timestamps compare as their strings
    return actual < value


def make_connector(
    fake: FakeServiceNow,
    user: str = "socialdesk.integration",
    *,
    token: str | None = None,
    secrets: dict[str, str] | None = None,
    url: str = URL,
    extra: dict[str, str] | None = None,
    **settings: str,
) -> ServiceNowConnector:
    """A connector wired to the fake through `httpx.MockTransport` (Basic auth by default)."""
    if secrets is None:
        secrets = (
            {"token": token}
            if token
            else {"username": user, "password": fake.account(user).password}
        )
    config = ConnectorConfig(
        url=url,
        secrets={k: SecretStr(v) for k, v in secrets.items()},
        settings={"assignment_group": "Service Desk", **settings, **(extra or {})},
    )
    return ServiceNowConnector(config, httpx.AsyncClient(transport=fake.transport()))


def listings(fake: FakeServiceNow, table: str = "incident") -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path == f"/api/now/table/{table}"]
