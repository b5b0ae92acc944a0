"""An in-memory Zendesk Support API v2 built from the contract notes, served by MockTransport.

Every behaviour names the section of `../shared/contracts/zendesk/README.md` it
reproduces; what the contract does not pin down is marked ASSUMED, so a test never passes
on the fake's say-so alone:

- § 0: `https://{subdomain}.zendesk.com/api/v2/…`, `Basic base64("{email}/token:{token}")`.
- § 1a: `GET /api/v2/incremental/tickets/cursor.json` (Admins only): `start_time` (at least
  one minute in the past) on the first request, `cursor` after; `per_page`; tickets in
  `generated_timestamp` order; `after_cursor`, `before_cursor`, `end_of_stream`; the most
  recent minute is left out. Cursors look like the contract's (`MTU3NjYxMzUzOS4wfHw0NTF8`
  is base64 of `1576613539.0||451|`): `<generated_timestamp>.0||<ticket id>|`.
- § 2: `GET /api/v2/tickets/{id}/comments.json` (Agents), oldest first by default, `sort`,
  `page[size]` (≤ 100), `page[after]`, `include=users`; `public` false for internal notes;
  "the initial value set on ticket creation persists for any additional comment unless you
  change it"; `PUT …/comments/{id}/make_private` answers 200 `null`.
- § 3: a comment is added by `PUT /api/v2/tickets/{id}.json` with `{"ticket": {"comment":
  {"body", "public"}}}`; the caller is the author.
- § 5: statuses; a closed ticket cannot be updated.
- § 6: 429 with `Retry-After` and a text/plain body (the documented example).

ASSUMED beyond the contract: the cursor-pagination envelope of comments (`meta.has_more`,
`meta.after_cursor`, `links`); error bodies (`{"error", "description"}`); 400 for a
`start_time` within the last minute; 422 for updating a closed ticket; the
`GET /api/v2/tickets/{id}.json`, `GET /api/v2/groups/{id}.json` and
`GET /api/v2/users/show_many.json` endpoints and their envelopes. Its clock only moves when
a test says so.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base import ConnectorConfig
from connectors.zendesk.connector import ZendeskConnector
from tests.connectors.fake_support import FakeHttp

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 28, 20, 0, 0, tzinfo=UTC)
URL = "https://acme.zendesk.com"
SUPPORT = 98738  # the group of § 1a's example
NETWORK = 98739
TOKEN = "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"
LAG = 60


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, name: str, description: str) -> httpx.Response:
    """ASSUMED error body (§ 7: JSON for business-level errors, bodies not captured)."""
    return httpx.Response(status, json={"error": name, "description": description})


def encode_cursor(generated: int, ticket_id: int) -> str:
    return base64.b64encode(f"{generated}.0||{ticket_id}|".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    stamp, _, rest = base64.b64decode(cursor).decode().partition("||")
    return int(float(stamp)), int(rest.strip("|"))


@dataclass
class User:
    id: int
    name: str
    email: str
    role: str  # Zendesk's names: end-user, agent, admin
    token: str | None = None


class FakeZendesk(FakeHttp):
    """An account with the Support and Network groups, an admin integration user, agents."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ticket_ids = itertools.count(35436)
        self.comment_ids = itertools.count(1274)
        self.users = [
            User(338231444, "Socialdesk Integration", "socialdesk@acme.example", "admin", TOKEN),
            User(235323, "Alex Agent", "alex.agent@acme.example", "agent", "agent-token-1"),
            User(20978392, "Rita Requester", "rita@example.com", "end-user", "end-user-token"),
            User(123123, "Sam Submitter", "sam@example.com", "end-user"),
        ]
        self.groups = {SUPPORT: "Support", NETWORK: "Network"}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        # ASSUMED misbehaviours the connector's read-back guards against:
        self.drop_comments = False  # a trigger/app drops the comment: 200, nothing stored
        self.ignore_public_flag = False  # stores every comment public, whatever was sent
        self.refuse_private = False  # 422 for `"public": false`
        self.make_private_fails = False

    # --- state -------------------------------------------------------------------------

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def user(self, email_or_id: str | int) -> User:
        return next(u for u in self.users if email_or_id in (u.email, u.id))

    def _stamp(self, ticket: dict[str, Any], *, event: bool = True) -> None:
        # § 1b: `updated_at` moves with ticket events, `generated_timestamp` with any update.
        if event:
            ticket["updated_at"] = iso(self.now)
        ticket["generated_timestamp"] = int(self.now.timestamp())

    def create(
        self,
        subject: str,
        description: str = "It does not work.",
        *,
        by: int = 20978392,
        public: bool = True,
        group: int | None = SUPPORT,
        **fields: Any,
    ) -> dict[str, Any]:
        """A ticket opened now; its description is its first comment (§ 2's persistence)."""
        ticket: dict[str, Any] = {
            "id": next(self.ticket_ids),
            "subject": subject,
            "raw_subject": subject,
            "description": description,
            "status": "new",
            "priority": None,
            "type": "incident",
            "requester_id": by,
            "submitter_id": by,
            "assignee_id": None,
            "group_id": group,
            "collaborator_ids": [],
            "follower_ids": [],
            "tags": [],
            "via": {"channel": "web"},
            "created_at": iso(self.now),
        }
        ticket.update(fields)
        ticket["url"] = f"{URL}/api/v2/tickets/{ticket['id']}.json"
        self._stamp(ticket)
        self.tickets[ticket["id"]] = ticket
        self.comments[ticket["id"]] = []
        self._comment(ticket, description, public, by)
        return ticket

    def _comment(self, ticket: dict[str, Any], body: str, public: bool, by: int) -> dict[str, Any]:
        comment = {
            "id": next(self.comment_ids),
            "type": "Comment",
            "author_id": by,
            "body": body,
            "html_body": f'<div class="zd-comment"><p dir="auto">{body}</p></div>',
            "plain_body": body,
            "public": public,
            "attachments": [],
            "audit_id": next(self.comment_ids),
            "via": {"channel": "web"},
            "created_at": iso(self.now),
        }
        self.comments[ticket["id"]].append(comment)
        return comment

    def comment(self, ticket_id: int, body: str, *, public: bool = True, by: int = 235323) -> int:
        """A comment added in the agent UI (public or an internal note)."""
        ticket = self.tickets[ticket_id]
        comment = self._comment(ticket, body, public, by)
        self._stamp(ticket)
        return int(comment["id"])

    def update(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        ticket = self.tickets[ticket_id]
        ticket.update(fields)
        self._stamp(ticket)
        return ticket

    def touch(self, ticket_id: int) -> None:
        """A system update: `generated_timestamp` moves, `updated_at` does not (§ 1b)."""
        self._stamp(self.tickets[ticket_id], event=False)

    def load_readme_ticket(self) -> dict[str, Any]:
        """§ 1a's ticket 35436 with § 2's comment 1274, at their documented times."""
        ticket = dict(fixture("incremental_tickets.json")["tickets"][0])
        comment = dict(fixture("comments.json")["comments"][0])
        self.tickets[ticket["id"]] = ticket
        self.comments[ticket["id"]] = [comment]
        self.now = datetime(2011, 5, 5, 12, 0, 0, tzinfo=UTC)
        return ticket

    # --- HTTP --------------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> httpx.Response:
        user = self._authenticate(request.headers.get("Authorization", ""))
        if user is None:
            return error(401, "Couldn't authenticate you", "")
        parts = request.url.path.removesuffix(".json").strip("/").split("/")
        if parts[:2] != ["api", "v2"]:
            return httpx.Response(404, text="Not Found")
        route = parts[2:]
        if route == ["incremental", "tickets", "cursor"]:
            return self._export(request, user)
        if user.role == "end-user":
            return error(403, "Forbidden", "You do not have access to this page.")
        if len(route) == 2 and route[0] == "groups" and request.method == "GET":
            name = self.groups.get(int(route[1])) if route[1].isdigit() else None
            if name is None:
                return error(404, "RecordNotFound", "Not found")
            return httpx.Response(200, json={"group": {"id": int(route[1]), "name": name}})
        if route == ["users", "show_many"]:
            wanted = {int(i) for i in request.url.params.get("ids", "").split(",") if i}
            return httpx.Response(
                200, json={"users": [self._user(u) for u in self.users if u.id in wanted]}
            )
        if route[:1] == ["tickets"] and len(route) >= 2 and route[1].isdigit():
            ticket = self.tickets.get(int(route[1]))
            if ticket is None:
                return error(404, "RecordNotFound", "Not found")
            return self._ticket_route(request, user, ticket, route[2:])
        return httpx.Response(404, text="Not Found")

    def _throttle(self) -> httpx.Response:
        """§ 6's documented 429: text/plain body, `Retry-After: 93`."""
        headers = {
            "Content-Type": "text/html; charset=utf-8",
            "Retry-After": "93",
            "X-Zendesk-API-Version": "v2",
            "X-Zendesk-User-Id": "338231444",
        }
        text = (
            "Rate limit for ticket updates exceeded, please wait before updating this ticket again"
        )
        return httpx.Response(429, text=text, headers=headers)

    def _authenticate(self, header: str) -> User | None:
        scheme, _, value = header.partition(" ")
        if scheme != "Basic":
            return None
        try:
            email, _, token = base64.b64decode(value).decode().partition("/token:")
        except (ValueError, UnicodeDecodeError):
            return None
        return next(
            (u for u in self.users if u.token and (u.email, u.token) == (email, token)), None
        )

    @staticmethod
    def _user(user: User) -> dict[str, Any]:
        return {"id": user.id, "name": user.name, "email": user.email, "role": user.role}

    def _export(self, request: httpx.Request, user: User) -> httpx.Response:
        """§ 1a, with the one-minute lag."""
        if user.role != "admin":
            return error(403, "Forbidden", "You do not have access to this page.")
        params = request.url.params
        horizon = int(self.now.timestamp()) - LAG
        if "cursor" in params:
            position = decode_cursor(params["cursor"])
        elif "start_time" in params:
            start = int(params["start_time"])
            if start > horizon:  # ASSUMED: 400 with this body
                return error(
                    400, "InvalidValue", "start_time must be more than one minute in the past"
                )
            position = (start - 1, 2**62)
        else:
            return error(400, "InvalidValue", "start_time is required")
        per_page = min(int(params.get("per_page", "1000")), 1000)
        ready = sorted(
            (t for t in self.tickets.values() if t["generated_timestamp"] <= horizon),
            key=lambda t: (t["generated_timestamp"], t["id"]),
        )
        after = [t for t in ready if (t["generated_timestamp"], t["id"]) > position]
        chosen = after[:per_page]
        last = (chosen[-1]["generated_timestamp"], chosen[-1]["id"]) if chosen else position
        cursor = encode_cursor(*last)
        body = {
            "after_cursor": cursor,
            "after_url": f"{URL}/api/v2/incremental/tickets/cursor.json?cursor={cursor}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": len(after) <= per_page,
            "tickets": [dict(t) for t in chosen],
        }
        headers = {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "699"}
        return httpx.Response(200, json=body, headers=headers)

    def _ticket_route(
        self, request: httpx.Request, user: User, ticket: dict[str, Any], rest: list[str]
    ) -> httpx.Response:
        if not rest and request.method == "GET":
            return httpx.Response(200, json={"ticket": dict(ticket)})
        if not rest and request.method == "PUT":
            return self._update(request, user, ticket)
        if rest == ["comments"] and request.method == "GET":
            return self._comments(request, ticket)
        if len(rest) == 3 and rest[0] == "comments" and rest[2] == "make_private":
            if self.make_private_fails:
                return error(422, "RecordInvalid", "Record validation errors")
            for comment in self.comments[ticket["id"]]:
                if str(comment["id"]) == rest[1]:
                    comment["public"] = False
                    return httpx.Response(200, content=b"null")
            return error(404, "RecordNotFound", "Not found")
        return httpx.Response(404, text="Not Found")

    def _comments(self, request: httpx.Request, ticket: dict[str, Any]) -> httpx.Response:
        """§ 2, cursor pagination (the envelope ASSUMED)."""
        params = request.url.params
        comments = sorted(self.comments[ticket["id"]], key=lambda c: (c["created_at"], c["id"]))
        if params.get("sort") == "-created_at":
            comments.reverse()
        size = min(int(params.get("page[size]", "100")), 100)
        start = int(params.get("page[after]", "c0")[1:])
        chosen = comments[start : start + size]
        more = start + size < len(comments)
        body: dict[str, Any] = {
            "comments": [dict(c) for c in chosen],
            "meta": {
                "has_more": more,
                "after_cursor": f"c{start + size}" if more else None,
                "before_cursor": f"c{start}" if start else None,
            },
            "links": {"next": None, "prev": None},
        }
        if "users" in params.get("include", ""):
            authors = {c["author_id"] for c in chosen}
            body["users"] = [self._user(u) for u in self.users if u.id in authors]
        return httpx.Response(200, json=body)

    def _update(self, request: httpx.Request, user: User, ticket: dict[str, Any]) -> httpx.Response:
        """§ 3: fields set, a `comment` added by the caller; § 2's `public` persistence."""
        if ticket["status"] == "closed":  # § 5: closed is terminal (422 ASSUMED)
            return error(422, "RecordInvalid", "Status: closed prevents ticket update")
        changes = json.loads(request.content)["ticket"]
        comment = changes.pop("comment", None)
        if comment is not None:
            first = (
                self.comments[ticket["id"]][0]["public"] if self.comments[ticket["id"]] else True
            )
            public = comment.get("public", first)
            if public is False and self.refuse_private:
                return error(422, "RecordInvalid", "Comment: public can't be false")
            if not self.drop_comments:
                self._comment(
                    ticket, comment["body"], bool(public) or self.ignore_public_flag, user.id
                )
        ticket.update({k: v for k, v in changes.items() if k in ticket})
        self._stamp(ticket)
        audit = {"id": next(self.comment_ids), "ticket_id": ticket["id"], "author_id": user.id}
        return httpx.Response(200, json={"ticket": dict(ticket), "audit": audit})


def make_connector(
    fake: FakeZendesk,
    email: str = "socialdesk@acme.example",
    token: str = TOKEN,
    *,
    url: str = URL,
    secrets: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
    **settings: str,
) -> ZendeskConnector:
    """A connector wired to the fake through `httpx.MockTransport`, on the fake's clock."""
    if secrets is None:
        secrets = {"email": email, "api_token": token, "webhook_secret": "whsec-1"}
    config = ConnectorConfig(
        url=url,
        secrets={k: SecretStr(v) for k, v in secrets.items()},
        settings={"group_id": str(SUPPORT), **settings, **(extra or {})},
    )
    connector = ZendeskConnector(config, httpx.AsyncClient(transport=fake.transport()))
    connector.clock = lambda: fake.now
    return connector


def exports(fake: FakeZendesk) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path == "/api/v2/incremental/tickets/cursor.json"]
