"""The Redmine connector against the real Redmine peer (shared/peers/redmine).

Each test makes its own issues through Redmine's REST API, as the end user and the agent,
and looks only at those: the server is shared and never assumed empty.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.base import (
    ChangeKind,
    ConnectorConfig,
    Person,
    TicketChange,
    Visibility,
    WriteNotApplied,
)
from connectors.redmine.connector import RedmineConnector
from tests.integration.peers import closed_port_url

pytestmark = pytest.mark.integration
PUBLIC, INTERNAL = Visibility.PUBLIC, Visibility.INTERNAL


class RedmineAPI:
    """Redmine's REST API as a person would use it (to make things happen)."""

    def __init__(self, http: httpx.AsyncClient, env: dict[str, str]) -> None:
        self.http, self.env, self.url = http, env, env["REDMINE_URL"]

    def _headers(self, who: str) -> dict[str, str]:
        return {"X-Redmine-API-Key": self.env[f"REDMINE_{who.upper()}_KEY"]}

    async def create(self, who: str, subject: str, **fields: Any) -> int:
        issue = {
            "project_id": self.env["REDMINE_PROJECT"],
            "tracker_id": 3,
            "subject": subject,
            "description": f"{subject}: details.",
            **fields,
        }
        response = await self.http.post(
            f"{self.url}/issues.json", json={"issue": issue}, headers=self._headers(who)
        )
        assert response.status_code == 201, response.text
        issue_id: int = response.json()["issue"]["id"]
        return issue_id

    async def update(self, who: str, issue_id: int, **fields: Any) -> None:
        response = await self.http.put(
            f"{self.url}/issues/{issue_id}.json", json={"issue": fields}, headers=self._headers(who)
        )
        assert response.status_code == 204, response.text

    async def journals(self, who: str, issue_id: int) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.url}/issues/{issue_id}.json",
            params={"include": "journals"},
            headers=self._headers(who),
        )
        response.raise_for_status()
        journals: list[dict[str, Any]] = response.json()["issue"]["journals"]
        return journals


def connector(
    http: httpx.AsyncClient, env: dict[str, str], who: str = "agent", **overrides: str
) -> RedmineConnector:
    config = ConnectorConfig(
        url=overrides.pop("url", env["REDMINE_URL"]),
        secrets={"api_key": overrides.pop("key", env[f"REDMINE_{who.upper()}_KEY"])},
        settings={"project": env["REDMINE_PROJECT"], **overrides},
    )
    return RedmineConnector(config, http)


async def drain(
    conn: RedmineConnector, cursor: str | None
) -> tuple[list[TicketChange], str | None]:
    changes: list[TicketChange] = []
    for _ in range(50):
        page = await conn.changes_since(cursor)
        assert page.notes == []
        changes += page.changes
        cursor = page.cursor
        if not page.has_more:
            return changes, cursor
    raise AssertionError("changes_since never ran dry")


def of_issue(changes: list[TicketChange], issue_id: int) -> list[TicketChange]:
    return [c for c in changes if c.ticket.external_id == str(issue_id)]


@pytest.fixture
def api(http: httpx.AsyncClient, redmine_env: dict[str, str]) -> RedmineAPI:
    return RedmineAPI(http, redmine_env)


async def test_changes_since_reports_the_issue_history(
    api: RedmineAPI, http: httpx.AsyncClient, redmine_env: dict[str, str]
) -> None:
    conn = connector(http, redmine_env)
    start = await conn.cursor_at(datetime.now(UTC))
    issue = await api.create("user", "VPN does not connect", priority_id=3)
    await api.update("agent", issue, notes="Which client version?")
    await api.update("agent", issue, notes="vpn-02 rebooted", private_notes=True)
    await api.update("agent", issue, status_id=2, assigned_to_id=5, priority_id=4)
    await api.update("agent", issue, status_id=3, notes="Fixed on our side.", private_notes=True)
    await api.update("user", issue, notes="Works again, thanks!")
    await api.update("agent", issue, status_id=2)

    changes, cursor = await drain(conn, start)
    mine = of_issue(changes, issue)
    got = [(c.kind, c.visibility, c.old_value, c.new_value, c.body) for c in mine]
    assert got == [
        (ChangeKind.CREATED, PUBLIC, None, None, "VPN does not connect: details."),
        (ChangeKind.COMMENTED, PUBLIC, None, None, "Which client version?"),
        (ChangeKind.COMMENTED, INTERNAL, None, None, "vpn-02 rebooted"),
        (ChangeKind.STATUS_CHANGED, PUBLIC, "new", "in_progress", None),
        (ChangeKind.ASSIGNED, PUBLIC, None, redmine_env["REDMINE_AGENT_ID"], None),
        (ChangeKind.PRIORITY_CHANGED, PUBLIC, "P2", "P1", None),
        (ChangeKind.RESOLVED, PUBLIC, "in_progress", "resolved", None),  # split journal…
        (ChangeKind.COMMENTED, INTERNAL, None, None, "Fixed on our side."),  # …its private half
        (ChangeKind.COMMENTED, PUBLIC, None, None, "Works again, thanks!"),
        (ChangeKind.REOPENED, PUBLIC, "resolved", "in_progress", None),
    ]
    assert mine[0].source_id == f"redmine:issue:{issue}:created"
    journals = await api.journals("agent", issue)
    assert mine[1].source_id == f"redmine:journal:{journals[0]['id']}"
    assert mine[3].source_id == f"redmine:journal:{journals[2]['id']}:status_id"
    assert [c.actor.name if c.actor else None for c in mine][:2] == ["Eve User", "Alice Agent"]
    # Only admin keys read addresses (users hide them by default), not even their own.
    assert mine[-1].ticket.assignee == Person(redmine_env["REDMINE_AGENT_ID"], "Alice Agent", None)

    again, _ = await drain(conn, cursor)
    assert of_issue(again, issue) == []
    replay, _ = await drain(conn, start)  # an older cursor: the engine dedupes by source id
    assert [c.source_id for c in of_issue(replay, issue)] == [c.source_id for c in mine]


async def test_closed_issues_and_same_second_writes_are_not_missed(
    api: RedmineAPI, http: httpx.AsyncClient, redmine_env: dict[str, str]
) -> None:
    conn = connector(http, redmine_env, who="admin")
    start = await conn.cursor_at(datetime.now(UTC))
    issue = await api.create("user", "Printer jammed")
    _, cursor = await drain(conn, start)
    await api.update("agent", issue, status_id=5, notes="Cleared the jam.")
    changes, _ = await drain(conn, cursor)
    got = [(c.kind, c.new_value, c.body) for c in of_issue(changes, issue)]
    assert got == [
        (ChangeKind.RESOLVED, "closed", None),
        (ChangeKind.COMMENTED, None, "Cleared the jam."),
    ]
    # An admin key reads addresses.
    assert of_issue(changes, issue)[1].actor == Person(
        redmine_env["REDMINE_AGENT_ID"], "Alice Agent", "agent@example.net"
    )


async def test_add_comment_public_and_internal(
    api: RedmineAPI, http: httpx.AsyncClient, redmine_env: dict[str, str]
) -> None:
    conn = connector(http, redmine_env)
    issue = await api.create("user", "Laptop fan noisy")
    key = uuid.uuid4().hex
    public_id = await conn.add_comment(str(issue), "We will swap it.", PUBLIC, key)
    assert await conn.add_comment(str(issue), "We will swap it.", PUBLIC, key) == public_id
    internal_id = await conn.add_comment(str(issue), "Order part 4711.", INTERNAL, key + "-i")

    as_agent = {str(j["id"]): j for j in await api.journals("agent", issue)}
    assert list(as_agent) == [public_id, internal_id]  # the retry wrote nothing
    assert as_agent[public_id]["private_notes"] is False
    assert as_agent[internal_id]["private_notes"] is True
    as_user = [str(j["id"]) for j in await api.journals("user", issue)]
    assert as_user == [public_id]

    changes, _ = await drain(conn, await conn.cursor_at(datetime.now(UTC)))
    ours = [c for c in of_issue(changes, issue) if c.kind is ChangeKind.COMMENTED]
    assert [(c.external_comment_id, c.visibility, c.body) for c in ours] == [
        (public_id, PUBLIC, "We will swap it."),
        (internal_id, INTERNAL, "Order part 4711."),
    ]
    assert ours[0].payload["socialdesk_idempotency_key"] == key


async def test_internal_note_with_a_reporter_key_is_refused(
    api: RedmineAPI, http: httpx.AsyncClient, redmine_env: dict[str, str]
) -> None:
    issue = await api.create("user", "Cannot print")
    with pytest.raises(WriteNotApplied, match="set_notes_private"):
        await connector(http, redmine_env, who="user").add_comment(
            str(issue), "internal?", INTERNAL, uuid.uuid4().hex
        )
    assert await api.journals("agent", issue) == []


async def test_private_note_stored_public_is_detected_on_read_back(
    api: RedmineAPI,
    http: httpx.AsyncClient,
    redmine_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without the permission pre-check, Redmine answers 204 and publishes the note.
    conn = connector(http, redmine_env, who="user")

    async def permissions_unknown() -> bool:
        return False

    monkeypatch.setattr(conn, "_may_not_set_private_notes", permissions_unknown)
    issue = await api.create("user", "Monitor flickers")
    with pytest.raises(WriteNotApplied, match="as PUBLIC"):
        await conn.add_comment(str(issue), "meant to be internal", INTERNAL, uuid.uuid4().hex)
    [journal] = await api.journals("user", issue)
    assert journal["private_notes"] is False  # the quirk itself: visible to everyone


class TestCheck:
    async def test_agent_key(self, http: httpx.AsyncClient, redmine_env: dict[str, str]) -> None:
        health = await connector(http, redmine_env).check()
        assert health.ok, health.detail
        url, project = redmine_env["REDMINE_URL"], redmine_env["REDMINE_PROJECT"]
        assert health.remote_identity == f"redmine:{url}:project:{project}"

    async def test_same_project_by_id_has_the_same_identity(
        self, http: httpx.AsyncClient, redmine_env: dict[str, str]
    ) -> None:
        by_id = connector(
            http,
            redmine_env,
            url=redmine_env["REDMINE_URL"] + "/",
            project=redmine_env["REDMINE_PROJECT_ID"],
        )
        by_name = connector(http, redmine_env)
        assert (await by_id.check()).remote_identity == (await by_name.check()).remote_identity

    async def test_reporter_key_lacks_permissions(
        self, http: httpx.AsyncClient, redmine_env: dict[str, str]
    ) -> None:
        health = await connector(http, redmine_env, who="user").check()
        assert (health.reachable, health.authenticated, health.permissions_ok) == (
            True,
            True,
            False,
        )
        assert "set_notes_private" in health.detail

    async def test_wrong_key(self, http: httpx.AsyncClient, redmine_env: dict[str, str]) -> None:
        health = await connector(http, redmine_env, key="0" * 40).check()
        assert (health.reachable, health.authenticated) == (True, False)
        assert "401" in health.detail

    async def test_unreachable(self, http: httpx.AsyncClient, redmine_env: dict[str, str]) -> None:
        health = await connector(http, redmine_env, url=closed_port_url()).check()
        assert not health.reachable
        assert "cannot reach Redmine" in health.detail

    async def test_missing_project(
        self, http: httpx.AsyncClient, redmine_env: dict[str, str]
    ) -> None:
        health = await connector(http, redmine_env, project="no-such-project").check()
        assert (health.authenticated, health.permissions_ok) == (True, False)
        assert "does not exist" in health.detail
