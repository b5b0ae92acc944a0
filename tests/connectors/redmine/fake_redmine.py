"""An in-memory Redmine answering like the peer (shared/peers/redmine/README.md), quirks and all.

Served through `httpx.MockTransport`. It reproduces what the connector must cope with:
empty 401/403/404 bodies, `status_id=*` needed to see closed issues, `limit` capped at 100,
the one-second slack of the `updated_on` filter, 204 for ignored writes, private notes
stored public without `set_notes_private`, and the split of a PUT with changes and a
private note into two journals. Uploads (`POST /uploads.json`) as the peer answers them
(probed on Redmine 5.0.4): 406 without `application/octet-stream`, 422 naming the limit
for a file over `max_upload`, tokens `<id>.<sha256>`; a PUT naming a token it cannot use
is refused whole (422, no journal), and the files of a PUT with a private note land in a
public journal of their own. Its clock only moves when a test says so.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base import ConnectorConfig
from connectors.redmine.connector import RedmineConnector

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 28, 20, 36, 52, tzinfo=UTC)
URL = "http://redmine.test"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def empty(status: int) -> httpx.Response:
    # Redmine's error bodies are empty although the type says JSON.
    return httpx.Response(status, headers={"Content-Type": "application/json"})


class FakeRedmine:
    """The project `it-services` with the peer's three users, statuses and priorities."""

    def __init__(self) -> None:
        ref = fixture("reference_data.json")
        self.ignore_writes = False  # answer 204 to every PUT and change nothing
        self.statuses: list[dict[str, Any]] = ref["issue_statuses"]
        self.priorities: list[dict[str, Any]] = ref["issue_priorities"]
        self.project: dict[str, Any] = ref["project"]
        self.users: dict[int, dict[str, Any]] = {u["id"]: u for u in ref["users"]}
        self.roles: dict[int, list[str]] = {int(k): v for k, v in ref["roles"].items()}
        self.issues: dict[int, dict[str, Any]] = {}
        self.precise: dict[int, datetime] = {}  # issue id → updated_on with microseconds
        self.now = T0
        self.next_journal = 1
        self.requests: list[httpx.Request] = []
        self.faults: dict[str, httpx.Response | Exception] = {}  # path → forced answer
        self.max_upload = 5_242_880  # Redmine's default attachment_max_size (5 MB)
        self.uploads: dict[str, dict[str, Any]] = {}  # token → the stored file
        self.attachments: dict[int, dict[str, Any]] = {}  # id → file, once on an issue
        self.next_attachment = 1

    # --- state -------------------------------------------------------------------------

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)

    def load(self, issue: dict[str, Any]) -> None:
        """Add an issue as the README shows it (journals included)."""
        issue = json.loads(json.dumps(issue))
        self.issues[issue["id"]] = issue
        self.precise[issue["id"]] = _parse(issue["updated_on"])
        ids = [j["id"] for j in issue.get("journals", [])]
        self.next_journal = max([self.next_journal - 1, *ids]) + 1

    def create(self, subject: str, author: int = 6, **fields: Any) -> dict[str, Any]:
        issue_id = max(self.issues, default=0) + 1
        status = self.statuses[fields.pop("status_id", 1) - 1]
        priority = self.priorities[fields.pop("priority_id", 2) - 1]
        user = self.users[author]
        self.load(
            {
                "id": issue_id,
                "project": {"id": 1, "name": "IT Services"},
                "tracker": {"id": 3, "name": "Support"},
                "status": dict(status),
                "priority": {"id": priority["id"], "name": priority["name"]},
                "author": {"id": author, "name": f"{user['firstname']} {user['lastname']}"},
                "subject": subject,
                "description": fields.pop("description", ""),
                "is_private": False,
                "created_on": stamp(self.now),
                "updated_on": stamp(self.now),
                "journals": [],
                **fields,
            }
        )
        return self.issues[issue_id]

    def journal(self, issue_id: int, user_id: int, **fields: Any) -> dict[str, Any]:
        """Append a journal now, as Redmine does after a PUT."""
        user = self.users[user_id]
        journal = {
            "id": self.next_journal,
            "user": {"id": user_id, "name": f"{user['firstname']} {user['lastname']}"},
            "notes": fields.get("notes", ""),
            "created_on": stamp(self.now),
            "private_notes": fields.get("private_notes", False),
            "details": fields.get("details", []),
        }
        self.next_journal += 1
        issue = self.issues[issue_id]
        issue["journals"].append(journal)
        issue["updated_on"] = stamp(self.now)
        self.precise[issue_id] = self.now
        return journal

    def may(self, user_id: int, permission: str) -> bool:
        user = self.users[user_id]
        return bool(user["admin"]) or permission in self.roles.get(user["role"]["id"], [])

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
        key = request.headers.get("X-Redmine-API-Key")
        user = next((u for u in self.users.values() if u["key"] == key), None)
        if user is None:
            return empty(401)
        response = self.route(request, user["id"])
        response.headers["Date"] = format_datetime(self.now, usegmt=True)
        return response

    def route(self, request: httpx.Request, user_id: int) -> httpx.Response:
        path, method = request.url.path, request.method
        parts = path.strip("/").removesuffix(".json").split("/")
        if method == "GET" and path == "/issues.json":
            return self.list_issues(request, user_id)
        if method == "POST" and path == "/uploads.json":
            return self.upload(request, user_id)
        if parts[0] == "issues" and len(parts) == 2 and parts[1].isdigit():
            issue_id = int(parts[1])
            if issue_id not in self.issues:
                return empty(404)
            if method == "PUT":
                return self.update(issue_id, user_id, json.loads(request.content)["issue"])
            return httpx.Response(200, json={"issue": self.visible(issue_id, user_id)})
        if method == "PUT" and parts[0] == "journals":
            return self.edit_journal(int(parts[1]), user_id, json.loads(request.content))
        return self.reference(parts, user_id)

    def reference(self, parts: list[str], user_id: int) -> httpx.Response:
        match parts:
            case ["users", "current"]:
                return httpx.Response(200, json={"user": self.user_json(user_id, user_id, True)})
            case ["users", other] if other.isdigit() and int(other) in self.users:
                return httpx.Response(200, json={"user": self.user_json(int(other), user_id)})
            case ["projects", "it-services" | "1"]:
                return httpx.Response(200, json={"project": self.project})
            case ["roles", role] if int(role) in self.roles:
                return httpx.Response(
                    200, json={"role": {"id": int(role), "permissions": self.roles[int(role)]}}
                )
            case ["issue_statuses"]:
                return httpx.Response(200, json={"issue_statuses": self.statuses})
            case ["enumerations", "issue_priorities"]:
                return httpx.Response(200, json={"issue_priorities": self.priorities})
        return empty(404)

    def user_json(self, user_id: int, viewer: int, memberships: bool = False) -> dict[str, Any]:
        user = self.users[user_id]
        data = {k: user[k] for k in ("id", "login", "admin", "firstname", "lastname")}
        if self.users[viewer]["admin"]:
            data["mail"] = user["mail"]  # users hide their address by default, even from self
        if memberships and user["role"]:
            data["memberships"] = [
                {"project": {"id": 1, "name": "IT Services"}, "roles": [user["role"]]}
            ]
        return data

    def visible(self, issue_id: int, user_id: int) -> dict[str, Any]:
        issue = dict(self.issues[issue_id])
        if not self.may(user_id, "view_private_notes"):  # left out, not masked
            issue["journals"] = [j for j in issue["journals"] if not j["private_notes"]]
        return issue

    def list_issues(self, request: httpx.Request, user_id: int) -> httpx.Response:
        params = request.url.params
        if params.get("project_id") not in ("it-services", "1"):
            return empty(404)
        issues = list(self.issues.values())
        if params.get("status_id") != "*":  # the default hides closed issues
            issues = [i for i in issues if not i["status"]["is_closed"]]
        since = params.get("updated_on", "")
        if since.startswith(">="):  # Redmine subtracts a second and compares with `>`
            floor = _parse(since[2:]) - timedelta(seconds=1)
            issues = [i for i in issues if self.precise[i["id"]] > floor]
        if params.get("sort") == "updated_on,id":
            issues.sort(key=lambda i: (self.precise[i["id"]], i["id"]))
        else:
            issues.sort(key=lambda i: -int(i["id"]))
        offset = int(params.get("offset", 0))
        limit = min(int(params.get("limit", 0)) or 25, 100)
        listed = [{k: v for k, v in i.items() if k != "journals"} for i in issues]
        body = {
            "issues": listed[offset : offset + limit],
            "total_count": len(issues),
            "offset": offset,
            "limit": limit,
        }
        return httpx.Response(200, json=body)

    def upload(self, request: httpx.Request, user_id: int) -> httpx.Response:
        if request.headers.get("Content-Type") != "application/octet-stream":
            return empty(406)
        data = request.content
        if len(data) > self.max_upload:
            message = (
                "This file cannot be uploaded because it exceeds the maximum allowed file "
                f"size ({self.max_upload})"
            )
            return httpx.Response(422, json={"errors": [message]})
        attachment_id, self.next_attachment = self.next_attachment, self.next_attachment + 1
        token = f"{attachment_id}.{hashlib.sha256(data).hexdigest()}"
        self.uploads[token] = {
            "id": attachment_id,
            "filename": request.url.params.get("filename", ""),
            "data": data,
            "author": user_id,
        }
        return httpx.Response(201, json={"upload": {"id": attachment_id, "token": token}})

    def _attach(self, uploads: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The details of the files a PUT attaches; None if a token cannot be used."""
        if any(u.get("token") not in self.uploads for u in uploads):
            return None
        details = []
        for upload in uploads:
            stored = self.uploads.pop(upload["token"])
            stored.update(
                filename=upload.get("filename") or stored["filename"],
                content_type=upload.get("content_type"),
            )
            self.attachments[stored["id"]] = stored
            details.append(
                {
                    "property": "attachment",
                    "name": str(stored["id"]),
                    "old_value": None,
                    "new_value": stored["filename"],
                }
            )
        return details

    def update(self, issue_id: int, user_id: int, fields: dict[str, Any]) -> httpx.Response:
        """Apply what the user may change; silently ignore the rest (204 either way)."""
        if self.ignore_writes:
            return httpx.Response(204)
        issue = self.issues[issue_id]
        files = self._attach(fields.get("uploads") or [])
        if files is None:
            n = len(fields["uploads"])
            return httpx.Response(422, json={"errors": [f"{n} file(s) could not be saved."]})
        details = []
        status = next((s for s in self.statuses if s["id"] == fields.get("status_id")), None)
        if status is not None and self.may(user_id, "edit_issues"):  # else ignored, 204
            details.append(self._detail("status_id", issue["status"]["id"], status["id"]))
            issue["status"] = dict(status)
        details += files
        notes = fields.get("notes") or ""
        private = bool(fields.get("private_notes")) and self.may(user_id, "set_notes_private")
        self.tick(0.001)
        if details and notes and private:  # split: changes public, text private
            self.journal(issue_id, user_id, notes=None, details=details)
            self.journal(issue_id, user_id, notes=notes, private_notes=True)
        elif details or notes:
            self.journal(issue_id, user_id, notes=notes, private_notes=private, details=details)
        return httpx.Response(204)

    def _detail(self, name: str, old: object, new: object) -> dict[str, Any]:
        return {"property": "attr", "name": name, "old_value": str(old), "new_value": str(new)}

    def edit_journal(self, journal_id: int, user_id: int, body: dict[str, Any]) -> httpx.Response:
        if not self.may(user_id, "edit_own_issue_notes"):
            return empty(403)
        for issue in self.issues.values():
            for journal in issue["journals"]:
                if journal["id"] == journal_id:
                    journal["notes"] = body["journal"].get("notes", journal["notes"])
                    if not journal["notes"] and not journal["details"]:
                        issue["journals"].remove(journal)
                    return httpx.Response(204)
        return empty(404)


def make_connector(
    fake: FakeRedmine, key: str = "agent-key", url: str = URL, **settings: str
) -> RedmineConnector:
    """A connector wired to the fake through `httpx.MockTransport`."""
    config = ConnectorConfig(
        url=url,
        secrets={"api_key": SecretStr(key)},
        settings={"project": "it-services", **settings},
    )
    return RedmineConnector(config, httpx.AsyncClient(transport=fake.transport()))
