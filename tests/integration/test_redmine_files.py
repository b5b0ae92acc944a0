"""Chat files written back to the real Redmine peer (shared/peers/redmine): a public
message's files become the issue's attachments in the note's journal, once; an internal
message's files stay in Socialdesk; Redmine's size limit is a recorded refusal; and the
next sync ingests none of it again.

Each test makes its own issue and looks only at it: the server is shared.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.writeback import WritebackWorker
from app.models import Attachment, ChatMessage, ChatWriteback, ConnectorWrite, Role
from app.runtime import Runtime
from app.sync.ingest import PENDING_WRITE
from tests.factories import create_user
from tests.files.support import make_png, post_message, upload
from tests.integration.sync_helpers import ServiceAPI, admin_api

pytestmark = pytest.mark.integration
SIGNED = "\n\n— Alex Agent, via Socialdesk chat"


class Redmine:
    """Redmine's REST API as its users use it, to make issues and to look at them."""

    def __init__(self, http: httpx.AsyncClient, env: dict[str, str]) -> None:
        self.http, self.env, self.url = http, env, env["REDMINE_URL"]

    def headers(self, who: str) -> dict[str, str]:
        return {"X-Redmine-API-Key": self.env[f"REDMINE_{who.upper()}_KEY"]}

    async def create(self, subject: str) -> int:
        issue = {
            "project_id": self.env["REDMINE_PROJECT"],
            "tracker_id": 3,
            "subject": subject,
            "description": f"{subject}: details.",
        }
        response = await self.http.post(
            f"{self.url}/issues.json", json={"issue": issue}, headers=self.headers("user")
        )
        assert response.status_code == 201, response.text
        return int(response.json()["issue"]["id"])

    async def issue(self, issue_id: int, who: str = "agent") -> dict[str, Any]:
        response = await self.http.get(
            f"{self.url}/issues/{issue_id}.json",
            params={"include": "journals,attachments"},
            headers=self.headers(who),
        )
        response.raise_for_status()
        issue: dict[str, Any] = response.json()["issue"]
        return issue

    async def download(self, attachment: dict[str, Any], who: str = "user") -> bytes:
        response = await self.http.get(attachment["content_url"], headers=self.headers(who))
        assert response.status_code == 200, response.status_code
        return response.content

    async def note(self, issue_id: int, text: str) -> None:
        response = await self.http.put(
            f"{self.url}/issues/{issue_id}.json",
            json={"issue": {"notes": text}},
            headers=self.headers("user"),
        )
        assert response.status_code == 204, response.text


@pytest.fixture
def redmine(http: httpx.AsyncClient, redmine_env: dict[str, str]) -> Redmine:
    return Redmine(http, redmine_env)


@pytest.fixture
def worker(runtime: Runtime) -> WritebackWorker:
    return WritebackWorker(runtime.sessionmaker, runtime.box, runtime.http, files=runtime.blobs)


async def _desk(
    client: httpx.AsyncClient, session: AsyncSession, redmine: Redmine, subject: str
) -> tuple[ServiceAPI, int, str, int, dict[str, Any]]:
    """A Redmine instance (the agent's key), an issue mirrored as a ticket, an agent."""
    api = await admin_api(client, session)
    _, agent = await create_user(session, role=Role.AGENT, name="Alex Agent")
    await session.commit()
    added = await api.add(
        kind="redmine",
        name=f"Redmine {uuid.uuid4().hex[:6]}",
        url=redmine.url,
        secrets={"api_key": redmine.env["REDMINE_AGENT_KEY"]},
        settings={"project": redmine.env["REDMINE_PROJECT"], "sync_from": "now"},
    )
    assert added.status_code == 201, added.text
    connector_id = int(added.json()["id"])
    issue = await redmine.create(subject)
    await api.sync(connector_id)
    return api, connector_id, agent, issue, await api.ticket(connector_id, issue)


async def _send(
    client: httpx.AsyncClient,
    agent: str,
    ticket_id: int,
    body: str,
    visibility: str,
    files: list[tuple[str, bytes]],
) -> int:
    ids = []
    for name, data in files:
        uploaded = await upload(client, agent, ticket_id, data, filename=name)
        assert uploaded.status_code == 201, uploaded.text
        ids.append(uploaded.json()["id"])
    sent = await post_message(
        client, agent, ticket_id, body,
        visibility=visibility, client_msg_id=uuid.uuid4().hex, attachments=ids,
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


def _unique_png() -> bytes:
    """A real PNG no other run uploaded (a random colour), so its digest is this test's."""
    return make_png(32, 24, (secrets.randbelow(256), secrets.randbelow(256), 7))


async def test_public_files_become_the_notes_attachments_once_and_are_not_synced_back(
    client: httpx.AsyncClient,
    session: AsyncSession,
    runtime: Runtime,
    redmine: Redmine,
    worker: WritebackWorker,
) -> None:
    api, connector_id, agent, issue, ticket = await _desk(
        client, session, redmine, "VPN client shows error 809"
    )
    shot = _unique_png()
    text = f"Here is what I see ({uuid.uuid4().hex[:8]})."
    public = await _send(client, agent, ticket["id"], text, "public", [("error-809.png", shot)])

    assert await worker.run_once() == 1
    [journal] = (await redmine.issue(issue))["journals"]
    assert journal["notes"].startswith(text + SIGNED)  # the text, then the marker line
    assert "Files in the Socialdesk chat" not in journal["notes"]
    assert journal["private_notes"] is False
    [detail] = journal["details"]
    assert (detail["property"], detail["new_value"]) == ("attachment", "error-809.png")
    # The same bytes, downloaded as the requester does (the file is on the public side).
    [attachment] = (await redmine.issue(issue, "user"))["attachments"]
    assert str(attachment["id"]) == detail["name"]
    assert (attachment["filename"], attachment["content_type"]) == ("error-809.png", "image/png")
    downloaded = await redmine.download(attachment)
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(shot).hexdigest()

    # A retry of the same write-back (the worker died after Redmine stored the note and
    # before it recorded that) finds the note by its marker: no second journal or file.
    key = f"chat:{public}"
    pending = PENDING_WRITE + hashlib.sha256(key.encode()).hexdigest()[:48]
    await session.execute(
        update(ConnectorWrite)
        .where(ConnectorWrite.idempotency_key == key)
        .values(external_comment_id=pending)
    )
    await session.execute(
        update(ChatWriteback).where(ChatWriteback.message_id == public).values(state="pending")
    )
    await session.commit()
    assert await worker.run_once() == 1
    again = await redmine.issue(issue)
    assert [j["id"] for j in again["journals"]] == [journal["id"]]
    assert len(again["attachments"]) == 1
    done = await session.scalar(select(ChatWriteback).where(ChatWriteback.message_id == public))
    assert done is not None
    await session.refresh(done)
    assert (done.state, done.external_comment_id) == ("done", str(journal["id"]))

    # The next sync knows the note and its file as ours; a person's reply still comes in.
    await redmine.note(issue, "Thanks, that is the one.")
    report = await api.sync(connector_id)
    assert report["own_writes"] == 2  # the note and its attachment detail
    timeline = await api.timeline(ticket["id"])
    assert [e["body"] for e in timeline] == [
        "VPN client shows error 809: details.",
        "Thanks, that is the one.",
    ]
    assert await _count(session, Attachment) == 1  # nothing ingested as a new file
    assert await _count(session, ChatMessage) == 1  # nor as a message


async def test_internal_files_stay_in_socialdesk_and_the_private_note_names_them(
    client: httpx.AsyncClient,
    session: AsyncSession,
    redmine: Redmine,
    worker: WritebackWorker,
) -> None:
    api, connector_id, agent, issue, ticket = await _desk(
        client, session, redmine, "Laptop will not boot"
    )
    text = "BIOS screenshot from the technician"
    await _send(client, agent, ticket["id"], text, "internal", [("bios.png", _unique_png())])

    assert await worker.run_once() == 1
    seen = await redmine.issue(issue)
    [journal] = seen["journals"]
    assert journal["private_notes"] is True
    assert journal["details"] == []  # no attachment: Redmine would have made it public
    assert journal["notes"].startswith(f"{text}\n\nFiles in the Socialdesk chat: bios.png")
    assert seen["attachments"] == []
    as_requester = await redmine.issue(issue, "user")
    assert (as_requester["journals"], as_requester["attachments"]) == ([], [])

    report = await api.sync(connector_id)
    assert report["own_writes"] == 1
    assert [e["body"] for e in await api.timeline(ticket["id"])] == [
        "Laptop will not boot: details."
    ]


async def test_a_file_over_redmines_limit_stays_in_socialdesk_and_the_refusal_is_recorded(
    client: httpx.AsyncClient,
    session: AsyncSession,
    redmine: Redmine,
    worker: WritebackWorker,
) -> None:
    _, _, agent, issue, ticket = await _desk(client, session, redmine, "Crash dump attached")
    # 6 MB: within Socialdesk's 10 MB, over the 5 MB Redmine allows by default.
    big = _unique_png() + secrets.token_bytes(6_000_000)
    shot = _unique_png()
    public = await _send(
        client, agent, ticket["id"], "The dump and a screenshot", "public",
        [("dump.png", big), ("screen.png", shot)],
    )  # fmt: skip

    assert await worker.run_once() == 1
    seen = await redmine.issue(issue)
    [journal] = seen["journals"]
    assert journal["notes"].startswith(
        "The dump and a screenshot\n\nFiles in the Socialdesk chat: dump.png" + SIGNED
    )
    assert [d["new_value"] for d in journal["details"]] == ["screen.png"]
    [attachment] = seen["attachments"]
    assert await redmine.download(attachment) == shot
    done = await session.scalar(select(ChatWriteback).where(ChatWriteback.message_id == public))
    assert done is not None
    assert (done.state, done.attempts) == ("done", 1)
    assert done.last_error is not None
    assert done.last_error.startswith("file_refused: Redmine refused 'dump.png' (")
    assert "maximum allowed file size (5242880)" in done.last_error
    assert await worker.run_once() == 0  # recorded, not retried


async def _count(session: AsyncSession, model: type[Attachment] | type[ChatMessage]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)
