"""An in-memory Freshservice API v2 built from the contract notes, served by MockTransport.

Every behaviour names the section of `../shared/contracts/freshservice/README.md` it
reproduces; what the contract does not pin down is marked ASSUMED, so a test never passes
on the fake's say-so alone:

- § 0: `https://<domain>.freshservice.com/api/v2/…`, HTTP Basic `<api_key>:X` (the official
  curl sample `-u api_key:X`); page sizes up to 100.
- § 1: `GET /api/v2/tickets?updated_since=…&per_page=…&page=…`; without `updated_since`
  only tickets created in the last 30 days; the next page in a `Link` header, absent on the
  last page. The records carry § 1's fields (`FakeFreshservice.load_readme_ticket` is § 1's
  ticket 4).
- § 2: `GET /api/v2/tickets/{id}/conversations`, paged the same way; `private` true for a
  note kept from the requester (fixture: § 2's note 21004158707 and reply 21004158695).
- § 3: `POST /api/v2/tickets/{id}/reply` (`body`) stores a public reply; `POST
  /api/v2/tickets/{id}/notes` (`body`, `private` — "The default value is true") a note;
  the server wraps plain text in `<div>…</div>`.
- § 5: status 2..5, priority 1..4. § 6: 429 with `Retry-After`, `X-Ratelimit-Total` and
  `X-Ratelimit-Remaining` on every answer.

ASSUMED beyond the contract: the wrapper keys (`{"tickets"}`, `{"conversations"}`,
`{"ticket"}`, `{"conversation"}`); the `Link` text (`<url>; rel="next"`); ISO 8601 UTC
times to the second; the listing's order (newest created first, as Freshdesk's default: on
purpose not the poll's order, so the connector's own ordering is what a test proves);
a conversation bumping the ticket's `updated_at`; the error body (`{"description",
"errors"}`); 403 for an agent whose role may not view tickets; `workspace_id` as a list
filter; `GET /api/v2/workspaces/{id}`, `/requesters/{id}`, `/agents/{id}`,
`/tickets/{id}`; `PUT`/`DELETE /api/v2/conversations/{id}`. Its clock only moves when a
test says so.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base import ConnectorConfig
from connectors.freshservice.connector import FreshserviceConnector
from tests.connectors.fake_support import FakeHttp

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 28, 20, 0, 0, tzinfo=UTC)
URL = "https://its-fine.freshservice.com"
IT = 2  # workspace ids (ASSUMED values)
HR = 3
KEY = "Wq8Hq2uXfj3bTk9Lm4Np"
AGENT = 21000418005  # § 2's conversations' user_id
REQUESTER = 21000418007  # § 1's requester_id


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, description: str, **extra: Any) -> httpx.Response:
    """ASSUMED error body (§ 7: "an error body", its format not captured)."""
    return httpx.Response(status, json={"description": description, **extra})


@dataclass
class Account:
    id: int
    first_name: str
    last_name: str
    email: str
    kind: str  # "agent" or "requester"
    key: str | None = None
    can_view_tickets: bool = True


class FakeFreshservice(FakeHttp):
    """An account with the IT and HR workspaces, an integration agent, people."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.ticket_ids = itertools.count(10)
        self.conversation_ids = itertools.count(21004158800)
        self.accounts = [
            Account(
                AGENT, "Socialdesk", "Integration", "socialdesk@its-fine.example", "agent", KEY
            ),
            Account(21000418006, "Alex", "Agent", "alex.agent@its-fine.example", "agent"),
            Account(
                21000418009,
                "Rory",
                "Readonly",
                "rory@its-fine.example",
                "agent",
                "no-ticket-role-key",
                can_view_tickets=False,
            ),
            Account(REQUESTER, "Rita", "Requester", "rita@example.com", "requester"),
        ]
        self.workspaces = {IT: "IT", HR: "HR"}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.per_page_cap = 100  # § 0
        # ASSUMED misbehaviours the connector's read-back guards against:
        self.drop_writes = False  # a workflow drops the reply/note: 201, nothing stored
        self.ignore_private = False  # stores every note public, whatever was sent
        self.store_reply_private = False
        self.ignore_workspace_filter = False

    # --- state -------------------------------------------------------------------------

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def create(
        self,
        subject: str,
        description: str = "It does not work.",
        *,
        by: int = REQUESTER,
        workspace: int = IT,
        **fields: Any,
    ) -> dict[str, Any]:
        """A ticket opened now with § 1's attributes."""
        ticket: dict[str, Any] = {
            "id": next(self.ticket_ids),
            "workspace_id": workspace,
            "subject": subject,
            "group_id": None,
            "department_id": None,
            "requester_id": by,
            "requested_for_id": by,
            "responder_id": None,
            "due_by": iso(self.now + timedelta(days=3)),
            "fr_due_by": iso(self.now + timedelta(hours=8)),
            "fr_escalated": False,
            "is_escalated": False,
            "deleted": False,
            "spam": False,
            "cc_emails": [],
            "fwd_emails": [],
            "reply_cc_emails": [],
            "to_emails": None,
            "priority": 1,
            "status": 2,
            "source": 2,
            "type": "Incident",
            "description": f"<div>{description}</div>",
            "description_text": description,
            "custom_fields": {},
            "created_at": iso(self.now),
            "updated_at": iso(self.now),
        }
        ticket.update(fields)
        self.tickets[ticket["id"]] = ticket
        self.conversations[ticket["id"]] = []
        return ticket

    def _conversation(
        self, ticket: dict[str, Any], body: str, *, private: bool, by: int, incoming: bool
    ) -> dict[str, Any]:
        html = body if body.startswith("<") else f"<div>{body}</div>"  # § 3: wrapped
        conversation = {
            "id": next(self.conversation_ids),
            "user_id": by,
            "to_emails": [] if private else ["rita@example.com"],
            "body": html,
            "body_text": _text(html),
            "ticket_id": ticket["id"],
            "created_at": iso(self.now),
            "updated_at": iso(self.now),
            "incoming": incoming,
            "private": private,
            "support_email": None if private else "helpdesk@its-fine.freshservice.com",
            "source": 2 if private else 0,
            "from_email": None,
            "cc_emails": [],
            "bcc_emails": [],
            "attachments": [],
        }
        self.conversations[ticket["id"]].append(conversation)
        ticket["updated_at"] = iso(self.now)  # ASSUMED: a conversation updates the ticket
        return conversation

    def reply(self, ticket_id: int, body: str, *, by: int = 21000418006) -> int:
        """A public reply added in the agent UI."""
        ticket = self.tickets[ticket_id]
        return int(self._conversation(ticket, body, private=False, by=by, incoming=False)["id"])

    def note(
        self, ticket_id: int, body: str, *, private: bool = True, by: int = 21000418006
    ) -> int:
        """A note added in the agent UI (private unless told)."""
        ticket = self.tickets[ticket_id]
        return int(self._conversation(ticket, body, private=private, by=by, incoming=False)["id"])

    def update(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        ticket = self.tickets[ticket_id]
        ticket.update(fields)
        ticket["updated_at"] = iso(self.now)
        return ticket

    def load_readme_ticket(self) -> dict[str, Any]:
        """§ 1's ticket 4 and § 2's two conversations (moved onto it)."""
        ticket = dict(fixture("ticket.json")["ticket"])
        self.tickets[ticket["id"]] = ticket
        self.conversations[ticket["id"]] = [
            {**c, "ticket_id": ticket["id"]} for c in fixture("conversations.json")["conversations"]
        ]
        self.now = datetime(2022, 11, 18, 12, 0, 0, tzinfo=UTC)
        return ticket

    # --- HTTP --------------------------------------------------------------------------

    def _every_answer(self, response: httpx.Response) -> None:
        response.headers["X-Ratelimit-Total"] = "500"  # § 6
        response.headers["X-Ratelimit-Remaining"] = "499"

    def _throttle(self) -> httpx.Response:
        return httpx.Response(
            429,
            json={"description": "You have exceeded the limit of requests per minute"},
            headers={"Retry-After": "37"},
        )

    def _route(self, request: httpx.Request) -> httpx.Response:
        account = self._authenticate(request.headers.get("Authorization", ""))
        if account is None:
            return error(401, "Authentication failure", code="invalid_credentials")
        parts = request.url.path.strip("/").split("/")
        if parts[:2] != ["api", "v2"]:
            return httpx.Response(404, text="<html>Not Found</html>")
        route = parts[2:]
        if route[:1] == ["tickets"] and not account.can_view_tickets:
            return error(
                403, "You are not authorized to perform this action.", code="access_denied"
            )
        if route == ["tickets"] and request.method == "GET":
            return self._list_tickets(request)
        if len(route) == 2 and route[0] in ("workspaces", "requesters", "agents"):
            return self._lookup(route[0], route[1])
        if len(route) == 2 and route[0] == "conversations":
            return self._edit_conversation(request, route[1])
        if route[:1] == ["tickets"] and len(route) >= 2 and route[1].isdigit():
            ticket = self.tickets.get(int(route[1]))
            if ticket is None:
                return error(404, "Record not found", code="not_found")
            return self._ticket_route(request, account, ticket, route[2:])
        return error(404, "Record not found", code="not_found")

    def _authenticate(self, header: str) -> Account | None:
        """§ 0: Basic with the API key as user name and `X` as password."""
        scheme, _, value = header.partition(" ")
        if scheme != "Basic":
            return None
        try:
            key, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if password != "X":
            return None
        return next((a for a in self.accounts if a.key and a.key == key), None)

    def _page(
        self, request: httpx.Request, key: str, items: list[dict[str, Any]]
    ) -> httpx.Response:
        """§ 0/§ 1 paging: `page`, `per_page` (≤ 100), `Link` to the next page."""
        params = request.url.params
        per_page = min(int(params.get("per_page", "30")), self.per_page_cap)
        page = int(params.get("page", "1"))
        chosen = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            following = request.url.copy_set_param("page", str(page + 1))
            headers["Link"] = f'<{following}>; rel="next"'
        return httpx.Response(200, json={key: [dict(i) for i in chosen]}, headers=headers)

    def _list_tickets(self, request: httpx.Request) -> httpx.Response:
        """§ 1: `updated_since` (else the last 30 days' created), ASSUMED order and filter."""
        params = request.url.params
        tickets = [t for t in self.tickets.values() if not t["deleted"]]
        if "updated_since" in params:
            since = datetime.fromisoformat(params["updated_since"].replace("Z", "+00:00"))
            tickets = [t for t in tickets if _time(t["updated_at"]) >= since]
        else:
            month = self.now - timedelta(days=30)
            tickets = [t for t in tickets if _time(t["created_at"]) >= month]
        if "workspace_id" in params and not self.ignore_workspace_filter:
            tickets = [t for t in tickets if t["workspace_id"] == int(params["workspace_id"])]
        tickets.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
        return self._page(request, "tickets", tickets)

    def _lookup(self, kind: str, raw_id: str) -> httpx.Response:
        if kind == "workspaces":
            name = self.workspaces.get(int(raw_id)) if raw_id.isdigit() else None
            if name is None:
                return error(404, "Record not found", code="not_found")
            return httpx.Response(200, json={"workspace": {"id": int(raw_id), "name": name}})
        wanted = "agent" if kind == "agents" else "requester"
        account = next((a for a in self.accounts if str(a.id) == raw_id and a.kind == wanted), None)
        if account is None:
            return error(404, "Record not found", code="not_found")
        email_key = "email" if wanted == "agent" else "primary_email"
        body = {
            "id": account.id,
            "first_name": account.first_name,
            "last_name": account.last_name,
            email_key: account.email,
        }
        return httpx.Response(200, json={wanted: body})

    def _ticket_route(
        self, request: httpx.Request, account: Account, ticket: dict[str, Any], rest: list[str]
    ) -> httpx.Response:
        if not rest and request.method == "GET":
            return httpx.Response(200, json={"ticket": dict(ticket)})
        if rest == ["conversations"] and request.method == "GET":
            ordered = sorted(self.conversations[ticket["id"]], key=lambda c: c["id"])
            return self._page(request, "conversations", ordered)
        if rest in (["reply"], ["notes"]) and request.method == "POST":
            return self._write(request, account, ticket, rest[0])
        return error(404, "Record not found", code="not_found")

    def _write(
        self, request: httpx.Request, account: Account, ticket: dict[str, Any], kind: str
    ) -> httpx.Response:
        """§ 3: a reply is public; a note is private unless `private` is false."""
        body = json.loads(request.content)
        allowed = {
            "reply": {"body", "from_email", "cc_emails", "bcc_emails"},
            "notes": {"body", "private", "incoming", "notify_emails", "user_id"},
        }[kind]
        unknown = sorted(set(body) - allowed)
        if unknown:  # ASSUMED: Freshworks APIs refuse fields they do not know
            return error(
                400,
                "Validation failed",
                errors=[
                    {
                        "field": f,
                        "message": "Unexpected/invalid field in request",
                        "code": "invalid_field",
                    }
                    for f in unknown
                ],
            )
        if not isinstance(body.get("body"), str) or not body["body"]:
            return error(
                400,
                "Validation failed",
                errors=[
                    {"field": "body", "message": "It should not be blank", "code": "missing_field"}
                ],
            )
        if kind == "reply":
            private = self.store_reply_private
        else:
            private = bool(body.get("private", True)) and not self.ignore_private
        if self.drop_writes:
            stored = {"id": next(self.conversation_ids), "body": body["body"]}
        else:
            stored = self._conversation(
                ticket,
                body["body"],
                private=private,
                by=account.id,
                incoming=bool(body.get("incoming", False)),
            )
        return httpx.Response(201, json={"conversation": dict(stored)})

    def _edit_conversation(self, request: httpx.Request, raw_id: str) -> httpx.Response:
        for conversations in self.conversations.values():
            for conversation in conversations:
                if str(conversation["id"]) != raw_id:
                    continue
                if request.method == "DELETE":
                    conversations.remove(conversation)
                    return httpx.Response(204)
                if request.method == "PUT":
                    html = json.loads(request.content)["body"]
                    conversation.update(body=html, body_text=_text(html))
                    return httpx.Response(200, json={"conversation": dict(conversation)})
        return error(404, "Record not found", code="not_found")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _text(html: str) -> str:
    """`body_text` as § 2 shows it: tags gone, line breaks as spaces."""
    text = re.sub(r"<[^>]+>", " ", html)
    return " ".join(text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").split())


def make_connector(
    fake: FakeFreshservice,
    key: str = KEY,
    *,
    url: str = URL,
    secrets: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
    **settings: str,
) -> FreshserviceConnector:
    """A connector wired to the fake through `httpx.MockTransport`, on the fake's clock."""
    if secrets is None:
        secrets = {"api_key": key}
    config = ConnectorConfig(
        url=url,
        secrets={k: SecretStr(v) for k, v in secrets.items()},
        settings={"workspace_id": str(IT), **settings, **(extra or {})},
    )
    connector = FreshserviceConnector(config, httpx.AsyncClient(transport=fake.transport()))
    connector.clock = lambda: fake.now
    return connector


def listings(fake: FakeFreshservice) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path == "/api/v2/tickets"]
