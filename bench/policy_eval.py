"""Decisions per second for one event with 10,000 followers, under the default policy.

Each measured pass is what `notify_event` does in production, committed: resolve the
audiences (10,000 followers in bulk), evaluate with the shipped default policy, record
redactions, check egress, and store one decision row per recipient x channel. The
reference, in the same run and over the same recipients, is a trivial always-send
evaluator that resolves the same audiences and stores the same rows: the ratio is the
price of the policy itself.

The followers audience does not exist yet (the following issue brings it), so the bench
registers a stand-in resolver: every user with `--followers-role` (default `agent`, who
may see the ticket, so every decision takes the full path to `send`; `end_user` shows
the least-visibility short cut: people who may not see the ticket are suppressed early).

    .venv/bin/python bench/policy_eval.py                       # SQLite scratch file
    .venv/bin/python bench/policy_eval.py --database-url postgresql://postgres@127.0.0.1/postgres

A scratch database is created (a temporary SQLite file, or a fresh PostgreSQL database
next to the one named) and removed afterwards. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.kit.clock import utcnow
from app.models import ConnectorInstance, Role, Ticket, TicketEvent, User
from app.policy.decisions.audiences import (
    Resolved,
    audiences_for,
    register_audience,
    resolve_recipients,
)
from app.policy.decisions.judging import judge
from app.policy.decisions.notify import notify_event
from app.policy.decisions.records import decision_row
from app.policy.decisions.sources import EventScope
from app.policy.decisions.ticket_events import build_ticket_event
from app.policy.engine.evaluator import Decision, PolicyEvent, Reason
from app.policy.repository import insert_decisions
from app.policy.service import active_policy
from bench.common import scratch_database

Scenario = Callable[[AsyncSession, PolicyEvent, EventScope], Awaitable[int]]


async def seed(session: AsyncSession, followers: int, role: Role) -> tuple[Ticket, User]:
    """`followers` users of `role`, a requester, an acting agent and one ticket."""
    now = utcnow()
    users = User.__table__
    assert isinstance(users, Table)
    rows = [
        {"email": f"f{n}@bench.example", "name": f"Follower {n}", "role": role.value,
         "is_active": True, "created_at": now}
        for n in range(followers)
    ]  # fmt: skip
    await session.execute(insert(users), rows)
    requester = User(email="requester@bench.example", name="Requester", role=Role.END_USER)
    actor = User(email="agent@bench.example", name="Acting Agent", role=Role.AGENT)
    connector = ConnectorInstance(
        kind="demo", name="bench", secrets_sealed="-", remote_identity="bench"
    )
    session.add_all([requester, actor, connector])
    await session.flush()
    ticket = Ticket(
        connector_id=connector.id, external_id="B-1", title="Mail is down", status="resolved",
        raw_status="resolved", priority="P2", raw_priority="P2", requester_user_id=requester.id,
        assignee_user_id=actor.id, opened_at=now, external_updated_at=now,
    )  # fmt: skip
    session.add(ticket)
    await session.flush()
    return ticket, actor


async def new_event(session: AsyncSession, ticket: Ticket, actor: User, n: int) -> PolicyEvent:
    """A fresh `ticket.resolved` event (its own key, so nothing is deduplicated away)."""
    row = TicketEvent(
        connector_id=ticket.connector_id, ticket_id=ticket.id, source_id=f"bench:{n}",
        kind="ticket.resolved", visibility="public", actor_user_id=actor.id,
        actor_name=actor.name, actor_email=actor.email, body="Resolved: restarted the relay.",
        old_value="in_progress", new_value="resolved", occurred_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    sourced = build_ticket_event(row, ticket, Role.AGENT)
    assert sourced is not None
    return sourced.event


async def policy_pass(session: AsyncSession, event: PolicyEvent, scope: EventScope) -> int:
    """The real thing: notify_event under the active (default) policy."""
    return len(await notify_event(session, event, scope))


async def reference_pass(session: AsyncSession, event: PolicyEvent, scope: EventScope) -> int:
    """Always send: same audiences, same recipients, same rows; no policy at all."""
    policy = await active_policy(session)
    audiences = audiences_for(policy.document, event.type)
    recipients = await resolve_recipients(session, event, scope, audiences)
    now = utcnow()
    sent = (Reason("rule", True, "always send"),)
    rows = [
        decision_row(
            Decision(event.key, r.key, channel, "send", "always", None, "public", "none", None,
                     sent),
            event, r, policy.version_id, now,
        )
        for r in recipients
        for channel in sorted(r.channels)
    ]  # fmt: skip
    await insert_decisions(session, rows)
    return len(rows)


async def breakdown(
    session: AsyncSession, event: PolicyEvent, scope: EventScope
) -> dict[str, float]:
    """Seconds spent resolving, evaluating and storing, for one event (not committed)."""
    policy = await active_policy(session)
    start = time.perf_counter()
    audiences = audiences_for(policy.document, event.type)
    recipients = await resolve_recipients(session, event, scope, audiences)
    resolved = time.perf_counter()
    now = utcnow()
    decisions = judge(policy, event, recipients, now)
    judged = time.perf_counter()
    by_key = {r.key: r for r in recipients}
    rows = [
        decision_row(d, event, by_key[d.recipient_key], policy.version_id, now) for d in decisions
    ]
    await insert_decisions(session, rows)
    stored = time.perf_counter()
    return {
        "resolve_s": round(resolved - start, 4),
        "evaluate_s": round(judged - resolved, 4),
        "persist_s": round(stored - judged, 4),
    }


async def timed(
    sessionmaker: async_sessionmaker[AsyncSession], ticket: Ticket, actor: User, n: int,
    scenario: Scenario,
) -> tuple[float, int]:  # fmt: skip
    async with sessionmaker() as session:
        event = await new_event(session, ticket, actor, n)
        await session.commit()
    scope = build_scope(ticket)
    async with sessionmaker() as session:
        start = time.perf_counter()
        count = await scenario(session, event, scope)
        await session.commit()
        return time.perf_counter() - start, count


def build_scope(ticket: Ticket) -> EventScope:
    return EventScope(ticket_id=ticket.id, service=ticket.service, subject=ticket.title)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    role = Role(args.followers_role)
    register_audience(
        "followers", lambda _e, _s: Resolved(users=select(User.id).where(User.role == role))
    )
    async with scratch_database(args.database_url) as url:
        settings = Settings(database_url=url)
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        try:
            async with sessionmaker() as session:
                ticket, actor = await seed(session, args.followers, role)
                await active_policy(session)  # the shipped default becomes version 1
                await session.commit()
            times: dict[str, list[float]] = {"policy": [], "reference": []}
            counts: dict[str, int] = {}
            for n in range(args.runs + 1):  # the first round warms caches and is dropped
                for name, scenario in (("policy", policy_pass), ("reference", reference_pass)):
                    seconds, counts[name] = await timed(
                        sessionmaker, ticket, actor, n * 2 + (name == "reference"), scenario
                    )
                    if n:
                        times[name].append(seconds)
            async with sessionmaker() as session:
                event = await new_event(session, ticket, actor, 10_000)
                phases = await breakdown(session, event, build_scope(ticket))
                await session.rollback()
        finally:
            await engine.dispose()
    policy_s = statistics.median(times["policy"])
    reference_s = statistics.median(times["reference"])
    figure = counts["policy"] / policy_s
    reference = counts["reference"] / reference_s
    return {
        "benchmark": "policy_eval",
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "followers": args.followers,
        "followers_role": role.value,
        "decisions_per_event": counts["policy"],
        "unit": "decisions/s",
        "figure": round(figure),
        "reference": round(reference),
        "ratio": round(figure / reference, 3),
        "policy_seconds_median": round(policy_s, 4),
        "reference_seconds_median": round(reference_s, 4),
        "runs": args.runs,
        "breakdown_one_event": phases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL; default: a SQLite scratch file")
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--followers-role", choices=["agent", "end_user"], default="agent")
    parser.add_argument("--runs", type=int, default=5)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
