"""An in-memory RT 5 answering like the peer (shared/peers/rt/README.md), quirks and all.

Served through `httpx.MockTransport`. It reproduces what the connector must cope with:
ticket ids as numbers and all other ids and numbers as strings, role members keyed by
Name, owner changes as user ids, mail copies (`EmailRecord`) carrying the message text,
transaction pages uncounted and filtered after paging for non-SuperUsers, 415 without a
JSON content type, 400 "Permission Denied" for a comment without the right, the auto-open
on the first agent reply, and a queue lookup that answers 403 for unknown names.
It understands just enough TicketSQL/TransactionSQL for the queries the connector sends.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base import ConnectorConfig
from connectors.rt.connector import RTConnector

FIXTURES = Path(__file__).parent / "fixtures"
URL = "http://rt.test"
T0 = datetime(2026, 11, 28, 20, 34, 4, tzinfo=UTC)
HIDDEN_FROM_CUSTOMERS = {"Comment", "CommentEmailRecord"}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


class FakeRT:
    """Queue `IT-Services` with the peer's users; tickets and transactions added by tests."""

    def __init__(self) -> None:
        ref = fixture("reference_data.json")
        self.queue: dict[str, Any] = ref["queue"]
        self.users: dict[str, dict[str, Any]] = {u["Name"]: u for u in ref["users"]}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.txns: list[dict[str, Any]] = []
        self.next_txn = 100
        self.next_attachment = 1
        self.now = T0
        self.requests: list[httpx.Request] = []
        self.faults: dict[str, httpx.Response | Exception] = {}
        self.ignore_writes = False  # answer 201 "added" and store nothing

    # --- state -------------------------------------------------------------------------

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def user_by_id(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self.users.values() if str(u["id"]) == user_id), None)

    def add_ticket(
        self, ticket_id: int, subject: str, requestors: list[str], **fields: Any
    ) -> None:
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "Subject": subject,
            "Status": fields.get("Status", "new"),
            "Priority": str(fields.get("Priority", "0")),
            "Queue": fields.get("Queue", "IT-Services"),
            "Owner": fields.get("Owner", "Nobody"),
            "Requestor": requestors,
            "Created": fields.get("Created", stamp(self.now)),
            "LastUpdated": fields.get("LastUpdated", stamp(self.now)),
        }

    def add_txn(self, ticket_id: int, row: list[str], content: str | None = None) -> dict[str, Any]:
        """A transaction as a README history row: id, Type, Field, Old, New, Created, Creator."""
        txn_id, kind, field, old, new, created, creator = row
        txn: dict[str, Any] = {
            "id": int(txn_id) if txn_id else self.next_txn,
            "Type": kind,
            "Field": field,
            "OldValue": old,
            "NewValue": new,
            "Created": created or stamp(self.now),
            "Creator": creator,
            "ObjectId": ticket_id,
            "attachments": [],
        }
        self.next_txn = max(self.next_txn, txn["id"]) + 1
        if content is not None:
            self._attach(txn, content)
        self.txns.append(txn)
        self.txns.sort(key=lambda t: t["id"])
        if ticket_id in self.tickets:
            self.tickets[ticket_id]["LastUpdated"] = txn["Created"]
        return txn

    def _attach(self, txn: dict[str, Any], content: str) -> None:
        parts = [("text/plain", content)]
        if txn["Type"].endswith("EmailRecord"):
            parts = [
                ("multipart/alternative", ""),
                ("text/plain", content + "\n\n"),
                ("text/html", f"<pre>{content}</pre>\n"),
            ]
        for content_type, text in parts:
            txn["attachments"].append(
                {"id": self.next_attachment, "ContentType": content_type, "Content": text}
            )
            self.next_attachment += 1

    def load(self, name: str, ticket_id: int = 1) -> None:
        """Add a fixture's ticket (if any) and history rows with their message texts."""
        data = fixture(name)
        if "ticket" in data:
            t = data["ticket"]
            self.add_ticket(t["id"], t["Subject"], t["Requestor"], **t)
            ticket_id = t["id"]
        elif ticket_id not in self.tickets:
            self.add_ticket(ticket_id, "Printer jammed", ["customer"])
        for row in data["rows"]:
            self.add_txn(ticket_id, row, data["messages"].get(row[0]))

    def message(self, ticket_id: int, kind: str, creator: str, content: str) -> dict[str, Any]:
        """A reply or comment now, with its mail copy and RT's auto-open scrip."""
        txn = self.add_txn(ticket_id, ["", kind, "", "", "", "", creator], content)
        self.add_txn(
            ticket_id,
            [
                "",
                f"{'Comment' if kind == 'Comment' else ''}EmailRecord",
                "",
                "",
                "",
                "",
                "RT_System",
            ],
            content,
        )
        ticket = self.tickets[ticket_id]
        if kind == "Correspond" and ticket["Status"] == "new" and self.users[creator]["Privileged"]:
            ticket["Status"] = "open"
            self.add_txn(ticket_id, ["", "Status", "Status", "new", "open", "", "RT_System"])
        return txn

    # --- HTTP --------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.faults.get(request.url.path)
        if isinstance(fault, Exception):
            raise fault
        if fault is not None:
            return fault
        token = request.headers.get("Authorization", "").removeprefix("token ")
        user = next((u for u in self.users.values() if u.get("token") == token), None)
        if user is None:
            return answer(401, {"message": "Unauthorized"})
        if request.method in ("POST", "PUT") and "json" not in request.headers.get(
            "Content-Type", ""
        ):
            return answer(415, {"message": "Unsupported Media Type"})
        return self.route(request, user)

    def route(self, request: httpx.Request, user: dict[str, Any]) -> httpx.Response:
        parts = request.url.path.removeprefix("/REST/2.0/").strip("/").split("/")
        params = request.url.params
        match request.method, parts:
            case "GET", ["rt"]:
                return answer(200, {"Version": "5.0.3+dfsg-3~deb12u6"})
            case "GET", ["queue", name]:
                if name in (self.queue["Name"], str(self.queue["id"])):
                    return answer(200, self.queue)
                return answer(403, {"message": "Forbidden"})  # unknown names too
            case "GET", ["tickets"]:
                return self.search_tickets(params, user)
            case "GET", ["ticket", ticket_id]:
                return self.ticket_links(int(ticket_id), user)
            case "GET", ["transactions"]:
                return self.search_transactions(params, user)
            case "GET", ["transaction", txn_id, "attachments"]:
                txn = next(t for t in self.txns if t["id"] == int(txn_id))
                return self.page(self._parts([txn]), params, counted=False)
            case "GET", ["ticket", ticket_id, "attachments"]:
                txns = [t for t in self.txns if t["ObjectId"] == int(ticket_id)]
                items = self._parts(self.visible(txns, user))
                items.sort(key=lambda a: a["id"], reverse=params.get("order") == "DESC")
                return self.page(items, params, counted=False)
            case "GET", ["user", key]:
                return self.user(key, user)
            case "POST", ["ticket", ticket_id, "correspond" | "comment" as action]:
                return self.post_message(int(ticket_id), action, user, json.loads(request.content))
        return answer(404, {"message": "Not Found"})

    def visible(self, txns: list[dict[str, Any]], user: dict[str, Any]) -> list[dict[str, Any]]:
        if user["Privileged"]:
            return txns
        return [
            t
            for t in txns
            if t["Type"] not in HIDDEN_FROM_CUSTOMERS
            and user["Name"] in self.tickets.get(t["ObjectId"], {}).get("Requestor", [])
        ]

    def page(
        self, items: list[Any], params: Any, *, counted: bool, hidden: Any = None
    ) -> httpx.Response:
        per_page = min(int(params.get("per_page", 20)), 100)
        number = int(params.get("page", 1))
        chunk = items[(number - 1) * per_page : number * per_page]
        if hidden is not None:  # RT filters transaction pages after paging
            chunk = hidden(chunk)
        body: dict[str, Any] = {
            "page": number,
            "per_page": per_page,
            "count": len(chunk),
            "items": chunk,
        }
        pages = -(-len(items) // per_page)
        body |= {"total": len(items), "pages": pages} if counted else {"total": None, "pages": None}
        return answer(200, body)

    def _parts(self, txns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**a, "TransactionId": str(t["id"])} for t in txns for a in t["attachments"]]

    def ref(self, name: str) -> dict[str, Any]:
        user = self.users.get(name, {"Name": name, "EmailAddress": name, "RealName": None})
        return {
            "type": "user",
            "id": name,
            "Name": user["Name"],
            "EmailAddress": user["EmailAddress"],
            "RealName": user["RealName"],
        }

    def search_tickets(self, params: Any, user: dict[str, Any]) -> httpx.Response:
        query = params["query"]
        ids = {int(i) for i in re.findall(r"\bid = (\d+)", query)}
        queue = re.search(r"Queue = '([^']*)'", query)
        found = [
            t
            for t in sorted(self.tickets.values(), key=lambda t: t["id"])
            if (not ids or t["id"] in ids)
            and (not queue or t["Queue"] == queue.group(1))
            and (user["Privileged"] or user["Name"] in t["Requestor"])
        ]
        items = [
            {
                **t,
                "id": str(t["id"]),
                "type": "ticket",
                "Owner": self.ref(t["Owner"]),
                "Requestor": [self.ref(r) for r in t["Requestor"]],
            }
            for t in found
        ]
        return self.page(items, params, counted=True)

    def search_transactions(self, params: Any, user: dict[str, Any]) -> httpx.Response:
        query = params["query"]
        after = re.search(r"\bid > (\d+)", query)
        types = set(re.findall(r"\bType = '(\w+)'", query))
        objects = {int(i) for i in re.findall(r"ObjectId = (\d+)", query)}
        queue = re.search(r"TicketQueue = '([^']*)'", query)
        before = re.search(r"Created < '([^']+)'", query)
        found = [
            t
            for t in self.txns
            if (not after or t["id"] > int(after.group(1)))
            and (not types or t["Type"] in types)
            and (not objects or t["ObjectId"] in objects)
            and (not queue or self.tickets[t["ObjectId"]]["Queue"] == queue.group(1))
            and (not before or t["Created"] < before.group(1).replace(" ", "T") + "Z")
        ]
        if params.get("order") == "DESC":
            found.reverse()
        items = [
            {
                "id": str(t["id"]),
                "type": "transaction",
                "Type": t["Type"],
                "Field": t["Field"],
                "OldValue": t["OldValue"],
                "NewValue": t["NewValue"],
                "Created": t["Created"],
                "Creator": self.ref(t["Creator"]),
                "ObjectId": str(t["ObjectId"]),
                "ObjectType": "RT::Ticket",
            }
            for t in found
        ]
        if user.get("SuperUser"):
            return self.page(items, params, counted=True)
        ids = {str(t["id"]) for t in self.visible(found, user)}
        return self.page(
            items, params, counted=False, hidden=lambda chunk: [i for i in chunk if i["id"] in ids]
        )

    def ticket_links(self, ticket_id: int, user: dict[str, Any]) -> httpx.Response:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return answer(404, {"message": "Not Found"})
        refs = ["self", "history"]
        if user["Privileged"] or user["Name"] in ticket["Requestor"]:
            refs.append("correspond")
        if user["Privileged"]:
            refs.append("comment")
        return answer(200, {"id": ticket_id, "_hyperlinks": [{"ref": r} for r in refs]})

    def user(self, key: str, viewer: dict[str, Any]) -> httpx.Response:
        target = self.users.get(key) or self.user_by_id(key)
        if target is None:
            return answer(404, {"message": "Not Found"})
        if not viewer["Privileged"] and target is not viewer:
            return answer(403, {"message": "Forbidden"})
        return answer(
            200, {k: target[k] for k in ("Name", "EmailAddress", "RealName", "Privileged")}
        )

    def post_message(
        self, ticket_id: int, action: str, user: dict[str, Any], body: dict[str, Any]
    ) -> httpx.Response:
        if ticket_id not in self.tickets:
            return answer(404, {"message": "Not Found"})
        if action == "comment" and not user["Privileged"]:
            return answer(400, {"message": "Permission Denied"})
        kind, result = (
            ("Comment", "Comments added")
            if action == "comment"
            else ("Correspond", "Correspondence added")
        )
        if not self.ignore_writes:
            self.tick(0.2)
            self.message(ticket_id, kind, user["Name"], body.get("Content", ""))
        return answer(201, [result])


def make_connector(
    fake: FakeRT, token: str = "agent-token", url: str = URL, **settings: str
) -> RTConnector:
    """A connector wired to the fake through `httpx.MockTransport`."""
    config = ConnectorConfig(
        url=url, secrets={"token": SecretStr(token)}, settings={"queue": "IT-Services", **settings}
    )
    return RTConnector(config, httpx.AsyncClient(transport=fake.transport()))
