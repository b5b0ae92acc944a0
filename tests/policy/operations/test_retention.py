"""Retention of stored decisions: old ones go in chunks, those pending work needs stay."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.leases import take_lease
from app.models import ApprovalRequest, Delivery, PolicyDecision, Role, WorkerLease
from app.policy import repository
from app.policy.operations import retention
from app.policy.operations.retention import DecisionPruner, decision_keepers, prune_decisions
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import inbox_of, later, make_relay
from tests.policy.support import notify, store_event, ticket_for

_keys = itertools.count(1)
DAY = timedelta(days=1)


def _event_key() -> str:
    return f"retention_test:{next(_keys)}"


async def _decide(
    session: AsyncSession, event_key: str, age: timedelta, *, recipients: int = 1
) -> list[int]:
    """Stored decisions of one event, made `age` ago; their ids."""
    rows = [
        PolicyDecision(
            event_key=event_key,
            event_type="ticket.commented",
            recipient_key=f"user:{n}",
            channel="in_app",
            outcome="send",
            rule_id="test-rule",
            body_variant="public",
            redaction_profile="standard",
            reasons=[{"kind": "rule", "matched": True, "sentence": "a test rule"}],
            redactions=[],
            created_at=utcnow() - age,
        )
        for n in range(recipients)
    ]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


async def _outbox_row(session: AsyncSession, event_key: str, status: str) -> Delivery:
    row = Delivery(
        idempotency_key=f"{event_key}:user:0:in_app",
        event_key=event_key,
        recipient_key="user:0",
        channel="in_app",
        timing="send",
        status=status,
        payload={"parts": []},
    )
    session.add(row)
    await session.flush()
    return row


async def _approval(session: AsyncSession, event_key: str, status: str) -> ApprovalRequest:
    row = ApprovalRequest(
        event_key=event_key, event_type="status.update", subject="held", status=status
    )
    session.add(row)
    await session.flush()
    return row


async def _left(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    stmt = select(PolicyDecision.id).where(PolicyDecision.id.in_(ids))
    return set((await session.execute(stmt)).scalars())


async def test_old_decisions_go_and_young_ones_stay(
    db: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    old = await _decide(session, _event_key(), 200 * DAY, recipients=2)
    just_old = await _decide(session, _event_key(), 180 * DAY + timedelta(minutes=1))
    young = await _decide(session, _event_key(), 179 * DAY)
    new = await _decide(session, _event_key(), timedelta(0))
    await session.commit()

    report = await prune_decisions(db, older_than_days=180)

    assert (report.deleted, report.kept) == (3, 0)
    assert await _left(session, old + just_old + young + new) == set(young + new)


async def test_decisions_that_pending_work_needs_are_kept(
    db: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    age = 365 * DAY
    held, approved = _event_key(), _event_key()
    queued, dead, sent, superseded = (_event_key() for _ in range(4))
    ids = {key: await _decide(session, key, age, recipients=2) for key in
           (held, approved, queued, dead, sent, superseded)}  # fmt: skip
    waiting = await _approval(session, held, "pending")
    await _approval(session, approved, "approved")
    pending_row = await _outbox_row(session, queued, "pending")
    await _outbox_row(session, dead, "dead")  # a dead letter an admin may still retry
    await _outbox_row(session, sent, "sent")
    await _outbox_row(session, superseded, "superseded")
    await session.commit()

    report = await prune_decisions(db, older_than_days=30)

    every = [i for found in ids.values() for i in found]
    assert await _left(session, every) == set(ids[held] + ids[queued] + ids[dead])
    assert (report.deleted, report.kept) == (6, 6)
    # The kept ones go once their work is done.
    waiting.status = "rejected"
    pending_row.status = "sent"
    await session.commit()
    again = await prune_decisions(db, older_than_days=30)
    assert (again.deleted, again.kept) == (4, 2)
    assert await _left(session, every) == set(ids[dead])


def test_the_outbox_keeper_is_wired() -> None:
    # tests/conftest.py wires the domains once, as the app and the workers do at start.
    assert set(decision_keepers()) == {"pending approvals", "undelivered outbox rows"}


async def test_chunks_remove_more_than_one_chunk_across_passes(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await _decide(session, _event_key(), 90 * DAY, recipients=2)
    protected = _event_key()
    kept = await _decide(session, protected, 90 * DAY - timedelta(seconds=1))
    await _outbox_row(session, protected, "pending")
    rest = await _decide(session, _event_key(), 80 * DAY, recipients=5)
    await session.commit()
    chunks: list[int] = []
    real_delete = repository.delete_decisions

    async def counting(session: AsyncSession, ids: Sequence[int]) -> int:
        chunks.append(len(ids))
        return await real_delete(session, ids)

    monkeypatch.setattr(repository, "delete_decisions", counting)

    # A pass stopped after its first chunk has deleted exactly one chunk.
    stopped = asyncio.Event()
    stopped.set()
    report = await prune_decisions(db, older_than_days=30, chunk_rows=3, stop=stopped)
    assert (report.deleted, report.kept, chunks) == (3, None, [3])
    assert len(await _left(session, first + kept + rest)) == 5
    # The next pass goes on in chunks, past the kept decision, to the end.
    report = await prune_decisions(db, older_than_days=30, chunk_rows=3, pause=0)
    assert (report.deleted, report.kept, chunks) == (4, 1, [3, 3, 1])
    assert await _left(session, first + kept + rest) == set(kept)


async def test_the_worker_honours_the_setting(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCIALDESK_DECISION_RETENTION_DAYS", "30")
    settings = Settings()
    assert settings.decision_retention_days == 30
    monkeypatch.setenv("SOCIALDESK_DECISION_RETENTION_DAYS", "0")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("SOCIALDESK_DECISION_RETENTION_DAYS")
    assert Settings().decision_retention_days == 180

    older = await _decide(session, _event_key(), 31 * DAY)
    younger = await _decide(session, _event_key(), 29 * DAY)
    await session.commit()
    stop = asyncio.Event()
    real_pass = retention.prune_decisions

    async def one_pass_then_stop(*args: Any, **kwargs: Any) -> retention.PruneReport:
        report = await real_pass(*args, **kwargs)
        stop.set()  # the worker would wait an hour for its next pass
        return report

    monkeypatch.setattr(retention, "prune_decisions", one_pass_then_stop)
    # A server started by another test may hold this period's lease in the test database.
    await session.execute(delete(WorkerLease))
    await session.commit()
    pruner = DecisionPruner(db, retention_days=settings.decision_retention_days)
    await asyncio.wait_for(pruner.run(stop), timeout=10)
    assert await _left(session, older + younger) == set(younger)


async def test_with_several_workers_one_pass_runs_per_period(
    committed_db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    passes: list[str] = []
    real_pass = retention.prune_decisions

    async def counted(*args: Any, **kwargs: Any) -> retention.PruneReport:
        passes.append("pass")
        return await real_pass(*args, **kwargs)

    monkeypatch.setattr(retention, "prune_decisions", counted)
    async with unit_of_work(committed_db) as session:  # no lease left by another test's server
        await session.execute(delete(WorkerLease))
    stop = asyncio.Event()
    workers = [
        DecisionPruner(committed_db, retention_days=30, every=3600, owner=f"worker-{n}")
        for n in range(3)
    ]
    running = [asyncio.create_task(w.run(stop)) for w in workers]
    await asyncio.sleep(1.5)  # each has tried its first pass
    stop.set()
    await asyncio.wait_for(asyncio.gather(*running), timeout=10)
    assert passes == ["pass"]


async def test_a_dead_holders_lease_is_taken_over_when_it_runs_out(
    committed_db: async_sessionmaker[AsyncSession],
) -> None:
    hour = timedelta(hours=1)
    async with unit_of_work(committed_db) as session:
        await session.execute(delete(WorkerLease))
    assert await take_lease(committed_db, "job", "a", hour)
    assert not await take_lease(committed_db, "job", "b", hour)  # a holds it
    assert await take_lease(committed_db, "job", "a", hour)  # a renews its own
    assert await take_lease(committed_db, "other-job", "b", hour)  # names are separate
    async with unit_of_work(committed_db) as session:  # a dies; its lease runs out
        await session.execute(update(WorkerLease).values(expires_at=utcnow() - DAY))
    assert await take_lease(committed_db, "job", "b", hour)
    assert not await take_lease(committed_db, "job", "a", hour)


async def test_explain_while_pending_and_after_the_decision_expired(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    client: httpx.AsyncClient,
) -> None:
    rita, rita_token = await create_user(session)
    _, admin_token = await create_user(session, role=Role.ADMIN)
    admin = auth(admin_token)
    ticket = await ticket_for(session, requester=rita)
    resolved = await store_event(session, ticket, kind="ticket.resolved", new="resolved")
    await notify(session, resolved)  # in-app and e-mail, at once
    await session.commit()
    await make_relay(db).drain()  # no SMTP server yet: the e-mail stays pending, retried
    (item,) = await inbox_of(session, rita.id)
    key = f"ticket_event:{resolved.id}"
    decided = {d.channel: d.id for d in await repository.decisions_for_event(session, key)}
    await session.execute(
        update(PolicyDecision)
        .where(PolicyDecision.event_key == key)
        .values(created_at=utcnow() - 200 * DAY)
    )
    await session.commit()

    # The e-mail is not delivered yet: the event's decisions stay, and explain answers.
    report = await prune_decisions(db, older_than_days=180)
    assert (report.deleted, report.kept) == (0, 2)
    kept = await client.get(f"/api/v1/decisions/{decided['in_app']}/explain", headers=admin)
    assert kept.status_code == 200, kept.text

    sink = SmtpSink()
    url = await sink.start()
    try:
        await make_relay(db, smtp_url=url, clock=later(3600)).drain()  # the retry is due
    finally:
        await sink.stop()
    assert len(sink.messages) == 1
    report = await prune_decisions(db, older_than_days=180)
    assert (report.deleted, report.kept) == (2, 0)
    assert not await repository.decisions_for_event(session, key)

    # The admin's explain of the decision: a clear 404 in the error shape, naming retention.
    gone = await client.get(f"/api/v1/decisions/{decided['email']}/explain", headers=admin)
    assert gone.status_code == 404
    error = gone.json()["error"]
    assert error["code"] == "not_found"
    assert "kept 180 days" in error["message"]
    assert "SOCIALDESK_DECISION_RETENTION_DAYS" in error["message"]
    listed = await client.get("/api/v1/decisions", params={"event_id": key}, headers=admin)
    assert listed.json()["items"] == []
    # Rita's "why did I get this" reads the copy her outbox row carries: it still answers.
    why = await client.get(f"/api/v1/me/notifications/{item.id}/explain", headers=auth(rita_token))
    assert why.status_code == 200, why.text
    (found,) = why.json()["decisions"]
    assert found["rule_id"] == "requester-hears-resolution"
    assert any(r["kind"] == "rule" and r["matched"] for r in found["reasons"])


async def test_prune_from_the_command_line(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        old = await _decide(session, _event_key(), 40 * DAY, recipients=3)
        young = await _decide(session, _event_key(), 20 * DAY)
        await session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=settings.database_url,
        SOCIALDESK_SECRET_KEY=TEST_SECRET_KEY,
        SOCIALDESK_LOG_LEVEL="warning",
        SOCIALDESK_DECISION_RETENTION_DAYS="30",  # the default when no flag is given
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app", "policy", "prune", *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    result = run()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["deleted"], report["kept"]) == (3, 0)
    assert datetime.fromisoformat(report["cutoff"]) < utcnow() - 29 * DAY
    async with committed_db() as session:
        assert await _left(session, old + young) == set(young)
    result = run("--older-than-days", "10")
    assert json.loads(result.stdout)["deleted"] == 1, result.stderr
    refused = run("--older-than-days", "0")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "socialdesk: --older-than-days must be at least 1"
