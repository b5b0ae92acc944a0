"""Redmine through the whole service: add an instance, sync, read tickets, write back.

Each test makes its own issues in the real Redmine peer and adds its instance with
`sync_from=now`, so it sees only what it made (the server is shared, never empty).
The instance uses the admin key: only admin keys can read users' e-mail addresses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker, unit_of_work
from app.kit.secrets import SecretBox
from app.models import ConnectorInstance, ConnectorWrite, Role, Ticket, TicketEvent
from app.realtime.bus import MemoryBus
from app.runtime import Runtime
from app.sync.engine import sync_instance
from app.sync.instances import do_add_instance
from app.sync.writeback import do_write_back
from connectors.base import Visibility, WriteNotApplied
from tests.conftest import TEST_SECRET_KEY
from tests.factories import create_connector, create_ticket, create_user
from tests.integration.peers import PEERS, closed_port_url
from tests.integration.sync_helpers import (
    ServiceAPI,
    admin_api,
    leaks,
    start_worker_process,
    worker_lines,
)

pytestmark = pytest.mark.integration


class RedmineDesk:
    """Redmine's REST API as its users use it (to make things happen, and to look)."""

    def __init__(self, http: httpx.AsyncClient, env: dict[str, str]) -> None:
        self.http, self.env, self.url = http, env, env["REDMINE_URL"]

    def key(self, who: str) -> str:
        return self.env[f"REDMINE_{who.upper()}_KEY"]

    async def create(self, who: str, subject: str, **fields: Any) -> int:
        issue = {"project_id": self.env["REDMINE_PROJECT"], "tracker_id": 3, "subject": subject}
        response = await self.http.post(
            f"{self.url}/issues.json",
            json={"issue": {**issue, "description": f"{subject}: details.", **fields}},
            headers={"X-Redmine-API-Key": self.key(who)},
        )
        assert response.status_code == 201, response.text
        return int(response.json()["issue"]["id"])

    async def update(self, who: str, issue_id: int, **fields: Any) -> None:
        response = await self.http.put(
            f"{self.url}/issues/{issue_id}.json",
            json={"issue": fields},
            headers={"X-Redmine-API-Key": self.key(who)},
        )
        assert response.status_code == 204, response.text

    async def journals(self, who: str, issue_id: int) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.url}/issues/{issue_id}.json",
            params={"include": "journals"},
            headers={"X-Redmine-API-Key": self.key(who)},
        )
        response.raise_for_status()
        journals: list[dict[str, Any]] = response.json()["issue"]["journals"]
        return journals


@pytest.fixture
def desk(http: httpx.AsyncClient, redmine_env: dict[str, str]) -> RedmineDesk:
    return RedmineDesk(http, redmine_env)


@pytest.fixture
async def api(client: httpx.AsyncClient, session: AsyncSession) -> ServiceAPI:
    return await admin_api(client, session)


def instance_body(env: dict[str, str], key: str, **settings: str) -> dict[str, Any]:
    return {
        "kind": "redmine",
        "name": f"Redmine {uuid.uuid4().hex[:6]}",
        "url": env["REDMINE_URL"],
        "secrets": {"api_key": key},
        "settings": {"project": env["REDMINE_PROJECT"], "sync_from": "now", **settings},
    }


async def add(api: ServiceAPI, env: dict[str, str]) -> int:
    response = await api.add(**instance_body(env, env["REDMINE_ADMIN_KEY"]))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def all_keys(env: dict[str, str]) -> list[str]:
    return [env[f"REDMINE_{who}_KEY"] for who in ("ADMIN", "AGENT", "USER")]


def timeline_view(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["kind"], e["visibility"], e["old_value"], e["new_value"], e["body"]) for e in entries
    ]


async def test_adding_an_instance_is_checked_and_refusals_say_why(
    api: ServiceAPI, redmine_env: dict[str, str]
) -> None:
    env = redmine_env
    cases = {
        "wrong key": (instance_body(env, "0" * 40), "rejected the API key"),
        "unreachable": (
            {**instance_body(env, env["REDMINE_ADMIN_KEY"]), "url": closed_port_url()},
            "reach",
        ),
        "missing project": (
            instance_body(env, env["REDMINE_ADMIN_KEY"], project="no-such-project"),
            "no-such-project",
        ),
        "missing permission": (instance_body(env, env["REDMINE_USER_KEY"]), "set_notes_private"),
    }
    messages = {}
    for case, (body, _) in cases.items():
        response = await api.add(**body)
        assert response.status_code == 422, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == "connector_check_failed", case
        messages[case] = error["message"]
    assert {c: says in messages[c] for c, (_, says) in cases.items()} == dict.fromkeys(
        cases, True
    ), messages
    assert (await api.add(**instance_body(env, env["REDMINE_ADMIN_KEY"]))).status_code == 201
    # The same Redmine and project again, under another name and with another key: refused.
    again = await api.add(**instance_body(env, env["REDMINE_AGENT_KEY"]))
    assert again.status_code == 409, again.text
    assert "remote system and project/queue" in again.json()["error"]["message"]
    assert leaks(api.bodies, *all_keys(env), "0" * 40) == []


def test_the_cli_adds_an_instance_and_prints_its_id(
    settings: Settings,
    committed_db: async_sessionmaker[AsyncSession],
    redmine_env: dict[str, str],
    repo_root: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(SOCIALDESK_DATABASE_URL=settings.database_url, SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY)
    key = redmine_env["REDMINE_ADMIN_KEY"]
    add_command = [
        *("connectors", "add", "--kind", "redmine", "--url", redmine_env["REDMINE_URL"]),
        *("--secret", f"api_key={key}", "--setting", f"project={redmine_env['REDMINE_PROJECT']}"),
        *("--setting", "sync_from=now"),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            env=env,
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    added = run(*add_command, "--name", "Redmine via CLI")
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert isinstance(created["id"], int)
    twice = run(*add_command, "--name", "Redmine via CLI again")
    assert twice.returncode == 2
    assert "already uses this remote system and project/queue" in twice.stderr
    synced = run("connectors", "sync", str(created["id"]))
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["error"] is None
    for result in (added, twice, synced):
        assert leaks([result.stdout, result.stderr], key) == []


async def test_tickets_and_their_history_appear_with_visibility_preserved(
    api: ServiceAPI,
    session: AsyncSession,
    desk: RedmineDesk,
    redmine_env: dict[str, str],
) -> None:
    eve, eve_token = await create_user(session, email="EndUser@example.net", name="Eve")
    alice, _ = await create_user(session, email="agent@example.net", role=Role.AGENT)
    await session.commit()
    cid = await add(api, redmine_env)

    issue = await desk.create("user", "Laptop will not boot", priority_id=3)
    await desk.update("agent", issue, notes="Is the power LED on?")
    await desk.update("agent", issue, notes="Disk SMART errors in the log.", private_notes=True)
    await desk.update("agent", issue, status_id=2, assigned_to_id=5)
    await desk.update("agent", issue, status_id=4, notes="Waiting for a disk.", private_notes=True)
    await desk.update("user", issue, notes="The LED blinks orange.")
    other = await desk.create("agent", "Printer queue stuck")  # Eve's colleague's view: none

    result = await api.sync(cid)
    assert result["error"] is None
    ticket = await api.ticket(cid, issue)
    assert ticket["title"] == "Laptop will not boot"
    assert (ticket["status"], ticket["raw_status"]) == ("pending", "Feedback")
    assert (ticket["priority"], ticket["raw_priority"]) == ("P2", "High")
    assert (ticket["requester_name"], ticket["requester_user_id"]) == ("Eve User", eve.id)
    assert (ticket["assignee_name"], ticket["assignee_user_id"]) == ("Alice Agent", alice.id)
    assert ticket["url"] == f"{redmine_env['REDMINE_URL']}/issues/{issue}"

    staff_view = await api.timeline(ticket["id"])
    agent_id = redmine_env["REDMINE_AGENT_ID"]
    assert timeline_view(staff_view) == [
        ("ticket.created", "public", None, None, "Laptop will not boot: details."),
        ("ticket.commented", "public", None, None, "Is the power LED on?"),
        ("ticket.commented", "internal", None, None, "Disk SMART errors in the log."),
        ("ticket.status_changed", "public", "new", "in_progress", None),
        ("ticket.assigned", "public", None, agent_id, None),
        ("ticket.status_changed", "public", "in_progress", "pending", None),
        ("ticket.commented", "internal", None, None, "Waiting for a disk."),
        ("ticket.commented", "public", None, None, "The LED blinks orange."),
    ]
    assert staff_view[1]["actor_name"] == "Alice Agent"
    assert staff_view[-1]["actor_user_id"] == eve.id

    # Eve sees her own ticket, only its public history, and not the colleague's ticket.
    mine = await api.tickets(cid, eve_token)
    assert str(issue) in [t["external_id"] for t in mine]
    assert {t["requester_user_id"] for t in mine} == {eve.id}
    eve_view = await api.timeline(ticket["id"], eve_token)
    assert timeline_view(eve_view) == [e for e in timeline_view(staff_view) if e[1] == "public"]
    hidden = await api.ticket(cid, other)
    assert await api.status(f"/api/v1/tickets/{hidden['id']}", eve_token) == 404

    health = (await api.connector(cid))["health"]
    assert health["state"] == "ok"
    assert health["tickets"] >= 2
    assert health["changes_ingested"] >= 9
    assert health["lag_seconds"] < 60
    assert leaks(api.bodies, *all_keys(redmine_env)) == []


async def test_changes_keep_flowing_exactly_once_across_restarts(
    settings: Settings,
    committed_db: async_sessionmaker[AsyncSession],
    desk: RedmineDesk,
    http: httpx.AsyncClient,
    redmine_env: dict[str, str],
) -> None:
    box = SecretBox(TEST_SECRET_KEY)
    async with unit_of_work(committed_db) as session:
        instance, _ = await do_add_instance(
            session,
            box=box,
            http=http,
            kind="redmine",
            name="Redmine restarts",
            url=redmine_env["REDMINE_URL"],
            secrets={"api_key": redmine_env["REDMINE_ADMIN_KEY"]},
            settings={"project": redmine_env["REDMINE_PROJECT"], "sync_from": "now"},
        )
    cid = instance.id
    issue = await desk.create("user", "Wi-Fi drops every hour")

    async def sync(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
        return await sync_instance(sessionmaker, MemoryBus(), box, http, cid)

    async def history(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
        async with sessionmaker() as session:
            stmt = (
                select(TicketEvent.source_id)
                .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                .where(Ticket.connector_id == cid, Ticket.external_id == str(issue))
                .order_by(TicketEvent.id)
            )
            return list((await session.execute(stmt)).scalars())

    first = await sync(committed_db)
    assert first.error is None
    assert await history(committed_db) == [f"redmine:issue:{issue}:created"]
    await desk.update("agent", issue, notes="Which access point?")
    await desk.update("agent", issue, status_id=2)
    second = await sync(committed_db)
    assert second.error is None
    assert len(await history(committed_db)) == 3
    again = await sync(committed_db)  # inside the overlap window: everything is seen again
    assert again.error is None
    assert len(await history(committed_db)) == 3

    # A restart: a new engine, sessions and HTTP client on the same database.
    engine = create_engine(settings)
    try:
        restarted = create_sessionmaker(engine)
        assert (await sync(restarted)).error is None
        assert len(await history(restarted)) == 3
        await desk.update("user", issue, notes="AP-3 on the second floor.")
        assert (await sync(restarted)).error is None
        assert (await sync(restarted)).error is None
        journals = await desk.journals("agent", issue)
        assert await history(restarted) == [
            f"redmine:issue:{issue}:created",
            f"redmine:journal:{journals[0]['id']}",
            f"redmine:journal:{journals[1]['id']}:status_id",
            f"redmine:journal:{journals[2]['id']}",
        ]
    finally:
        await engine.dispose()


async def test_write_back_is_internal_by_default_and_not_ingested_again(
    runtime: Runtime,
    api: ServiceAPI,
    session: AsyncSession,
    desk: RedmineDesk,
    redmine_env: dict[str, str],
) -> None:
    cid = await add(api, redmine_env)
    issue = await desk.create("user", "VPN token expired")
    await api.sync(cid)
    ticket = await api.ticket(cid, issue)
    rt = runtime

    note = await do_write_back(
        rt.sessionmaker,
        box=rt.box,
        http=rt.http,
        ticket_id=ticket["id"],
        body="Checked the RADIUS log: the token was revoked.",
        idempotency_key=f"chat:{uuid.uuid4().hex}",
    )
    reply_key = f"chat:{uuid.uuid4().hex}"
    reply = await do_write_back(
        rt.sessionmaker,
        box=rt.box,
        http=rt.http,
        ticket_id=ticket["id"],
        body="Hi Eve, please enrol a new token.",
        idempotency_key=reply_key,
        visibility="public",
    )
    assert (note.visibility, reply.visibility) == (Visibility.INTERNAL, Visibility.PUBLIC)
    # Redmine shows a private note and a public one; Eve sees only the public one.
    by_agent = {str(j["id"]): j for j in await desk.journals("agent", issue)}
    assert by_agent[note.external_comment_id]["private_notes"] is True
    assert by_agent[reply.external_comment_id]["private_notes"] is False
    by_eve = {str(j["id"]) for j in await desk.journals("user", issue)}
    assert (note.external_comment_id in by_eve, reply.external_comment_id in by_eve) == (
        False,
        True,
    )
    # A retry with the same key writes nothing new.
    retry = await do_write_back(
        rt.sessionmaker,
        box=rt.box,
        http=rt.http,
        ticket_id=ticket["id"],
        body="Hi Eve, please enrol a new token.",
        idempotency_key=reply_key,
        visibility="public",
    )
    assert (retry.external_comment_id, retry.already_written) == (reply.external_comment_id, True)
    assert len(await desk.journals("agent", issue)) == 2

    # The next sync recognizes both as ours; a human's note still comes through.
    await desk.update("user", issue, notes="Done, it works.")
    result = await api.sync(cid)
    assert result["own_writes"] == 2
    bodies = [e["body"] for e in await api.timeline(ticket["id"])]
    assert bodies == ["VPN token expired: details.", "Done, it works."]
    assert await session.scalar(select(func.count()).where(ConnectorWrite.connector_id == cid)) == 2


async def test_a_write_the_system_would_ignore_is_reported_not_assumed(
    runtime: Runtime,
    session: AsyncSession,
    desk: RedmineDesk,
    redmine_env: dict[str, str],
) -> None:
    # An instance whose key lost its rights after it was added (the add check refuses it).
    instance = await create_connector(
        session,
        kind="redmine",
        url=redmine_env["REDMINE_URL"],
        secrets={"api_key": redmine_env["REDMINE_USER_KEY"]},
        settings={"project": redmine_env["REDMINE_PROJECT"]},
    )
    issue = await desk.create("user", "Monitor flickers")
    ticket = await create_ticket(session, connector=instance, title="Monitor flickers")
    ticket.external_id = str(issue)
    await session.commit()
    with pytest.raises(WriteNotApplied, match="set_notes_private"):
        await do_write_back(
            runtime.sessionmaker,
            box=runtime.box,
            http=runtime.http,
            ticket_id=ticket.id,
            body="Internal: replace the cable.",
            idempotency_key=f"chat:{uuid.uuid4().hex}",
        )
    assert await desk.journals("agent", issue) == []


async def test_health_shows_a_refused_key_and_secrets_never_leak(
    api: ServiceAPI,
    runtime: Runtime,
    session: AsyncSession,
    redmine_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good, wrong, other = redmine_env["REDMINE_ADMIN_KEY"], uuid.uuid4().hex, uuid.uuid4().hex
    cid = await add(api, redmine_env)
    stored = await session.get(ConnectorInstance, cid)
    assert stored is not None
    assert good not in stored.secrets_sealed  # encrypted at rest
    # The key is revoked in Redmine after the instance was added.
    stored.secrets_sealed = runtime.box.seal({"api_key": wrong})
    await session.commit()

    caplog.set_level(logging.DEBUG)
    result = await api.sync(cid)
    assert result["error"].startswith("auth_failed: Redmine rejected the API key")
    health = (await api.connector(cid))["health"]
    assert health["state"] == "paused"
    assert health["paused_reason"] == result["error"]
    assert health["last_error"] == result["error"]
    assert (health["consecutive_failures"], health["next_attempt_at"]) == (1, None)
    assert health["last_success_at"] is None
    assert any("auth_failed" in r.getMessage() for r in caplog.records)

    # New credentials are checked before they are saved; the right ones resume polling.
    refused = await api.patch(cid, secrets={"api_key": other})
    assert refused.status_code == 422, refused.text
    assert "rejected the API key" in refused.json()["error"]["message"]
    fixed = await api.patch(cid, secrets={"api_key": good})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["health"]["paused_reason"] is None
    assert (await api.sync(cid))["error"] is None
    health = (await api.connector(cid))["health"]
    assert (health["state"], health["consecutive_failures"]) == ("ok", 0)
    assert health["last_success_at"] is not None
    assert 0 <= health["lag_seconds"] < 60

    lines = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert leaks(lines, good, wrong, other) == []
    assert leaks(api.bodies, good, wrong, other) == []


async def test_an_outage_shows_in_health_and_the_sync_catches_up(
    api: ServiceAPI, desk: RedmineDesk, redmine_env: dict[str, str]
) -> None:
    stop, start = PEERS / "redmine" / "stop", PEERS / "redmine" / "start"
    if not stop.exists() or not redmine_env["REDMINE_URL"].startswith("http://127.0.0.1:"):
        pytest.skip("the Redmine peer is not a local server this test may stop")
    cid = await add(api, redmine_env)
    issue = await desk.create("user", "Mail does not sync")
    await api.sync(cid)
    await desk.update("agent", issue, notes="Before the outage.")

    await asyncio.to_thread(subprocess.run, [str(stop)], capture_output=True, check=True)
    try:
        for attempt in (1, 2):
            result = await api.sync(cid)
            assert result["error"].startswith("transient: "), result
            health = (await api.connector(cid))["health"]
            assert (health["state"], health["consecutive_failures"]) == ("failing", attempt)
            assert health["paused_reason"] is None
            tried = datetime.fromisoformat(health["last_attempt_at"])
            retry = datetime.fromisoformat(health["next_attempt_at"])
            # Backoff: at least the poll interval, at most doubling per failure, with jitter.
            assert 10 <= (retry - tried).total_seconds() <= 10 * 2**attempt + 1
    finally:
        await asyncio.to_thread(subprocess.run, [str(start)], capture_output=True, check=True)
    await desk.update("agent", issue, notes="After the outage.")
    assert (await api.sync(cid))["error"] is None
    ticket = await api.ticket(cid, issue)
    bodies = [e["body"] for e in await api.timeline(ticket["id"])]
    assert bodies == ["Mail does not sync: details.", "Before the outage.", "After the outage."]
    health = (await api.connector(cid))["health"]
    assert (health["state"], health["consecutive_failures"]) == ("ok", 0)
    assert health["last_error"].startswith("transient: ")  # kept, dated, for the admin


async def test_two_worker_processes_share_an_instance_and_a_killed_one_is_taken_over(
    settings: Settings,
    committed_db: async_sessionmaker[AsyncSession],
    desk: RedmineDesk,
    http: httpx.AsyncClient,
    redmine_env: dict[str, str],
    repo_root: Path,
) -> None:
    async with unit_of_work(committed_db) as session:
        instance, _ = await do_add_instance(
            session,
            box=SecretBox(TEST_SECRET_KEY),
            http=http,
            kind="redmine",
            name="Redmine lease",
            url=redmine_env["REDMINE_URL"],
            secrets={"api_key": redmine_env["REDMINE_ADMIN_KEY"]},
            settings={"project": redmine_env["REDMINE_PROJECT"], "sync_from": "now"},
            poll_interval=1,
        )
    cid = instance.id
    issues = [await desk.create("user", f"Lease test {n}") for n in range(8)]
    for issue in issues:
        await desk.update("agent", issue, notes=f"Looking at #{issue}.")

    async def state() -> tuple[str | None, int]:
        async with committed_db() as session:
            row = await session.get(ConnectorInstance, cid)
            assert row is not None
            count = await session.scalar(
                select(func.count()).where(TicketEvent.connector_id == cid)
            )
            return row.lease_owner, int(count or 0)

    workers = [
        start_worker_process(settings, repo_root, page=3, pause=0.4, lease=2.0) for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 30
        owner, count = await state()
        while (owner is None or count == 0) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            owner, count = await state()
        assert owner is not None, "no worker took the lease"
        assert count > 0, "no worker committed a page"
        victim = next(w for w in workers if f":{w.pid}:" in owner)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.time()
        _, committed = await state()  # what the victim had committed: the cursor with it
        assert committed < 16, "the sync finished before the kill; make it slower"

        async def ours() -> dict[str, int]:
            async with committed_db() as session:
                stmt = (
                    select(Ticket.external_id, func.count(TicketEvent.id))
                    .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
                    .where(Ticket.connector_id == cid)
                    .group_by(Ticket.external_id)
                )
                return {str(k): int(v) for k, v in (await session.execute(stmt)).all()}

        wanted = {str(issue): 2 for issue in issues}  # created + the note, once each
        while time.monotonic() < deadline:
            got = await ours()
            if all(got.get(k, 0) >= 2 for k in wanted) and (await state())[0] is None:
                break
            await asyncio.sleep(0.2)
        assert {k: v for k, v in (await ours()).items() if k in wanted} == wanted
        total = (await state())[1]
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
    survivor = next(w for w in workers if w is not victim)
    out, err = survivor.communicate(timeout=20)
    assert survivor.returncode == 0, err
    lines = worker_lines(out)
    victim_lines = worker_lines(victim.communicate(timeout=5)[0])

    # The survivor stored exactly what the victim had not committed: it resumed from the
    # committed cursor, and nothing was fetched twice into the mirror.
    passes = [line for line in lines if line["event"] == "end"]
    assert all(p["error"] is None for p in passes), passes
    assert sum(p["events"] for p in passes) == total - committed
    # Never two pollers at once: the two processes' sync passes do not overlap in time.
    victim_spans = spans_of(victim_lines, until=killed_at)
    assert victim_spans[-1][1] == killed_at  # it was killed in the middle of a pass
    for start, end in spans_of(lines, until=time.time()):
        assert all(end <= v_start or v_end <= start for v_start, v_end in victim_spans)


def spans_of(lines: list[dict[str, Any]], *, until: float) -> list[tuple[float, float]]:
    """(start, end) of each sync pass a worker process reported; `until` for an unfinished one."""
    spans: list[tuple[float, float]] = []
    for line in lines:
        if line["event"] == "start":
            spans.append((line["t"], until))
        elif line["event"] == "end":
            spans[-1] = (spans[-1][0], line["t"])
    return spans
