"""simulate: stored events replayed against a candidate and the active policy, as a diff."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.models import ApprovalRequest, PolicyDecision, Role
from app.policy.engine.document import default_policy_text, parse_policy
from app.policy.operations.simulate import simulate
from tests.factories import auth, create_user
from tests.policy.support import store_event, ticket_for

YAML = {"Content-Type": "text/yaml"}


def without_rule(rule_id: str) -> str:
    """The shipped default with one rule (and its comment lines) cut out."""
    lines = default_policy_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {rule_id}")
    end = next(
        i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith(("- id:", "#"))
    )
    return "".join(lines[:start] + lines[end:])


WITHOUT_RESOLUTION = without_rule("requester-hears-resolution")


class TestSimulate:
    async def test_dropping_a_rule_shows_the_recipients_it_removes(
        self, session: AsyncSession
    ) -> None:
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        then = utcnow() - timedelta(hours=2)
        resolved = await store_event(
            session, ticket, kind="ticket.resolved", new="resolved", occurred_at=then
        )
        await store_event(session, ticket, body="still here", occurred_at=then)
        diff = await simulate(
            session,
            parse_policy(WITHOUT_RESOLUTION),
            since=utcnow() - timedelta(days=1),
            until=utcnow(),
        )
        assert diff.events == 2
        assert diff.added == []
        assert diff.changed == []
        removed = {(e["event_key"], e["recipient_user_id"], e["channel"]) for e in diff.removed}
        key = f"ticket_event:{resolved.id}"
        assert removed == {(key, rita.id, "in_app"), (key, rita.id, "email")}
        assert diff.removed[0]["before"] == {
            "outcome": "send",
            "rule_id": "requester-hears-resolution",
        }
        assert diff.removed[0]["after"]["outcome"] == "suppress"
        assert diff.unchanged > 0
        # Nothing was decided for real.
        assert await session.scalar(select(func.count()).select_from(PolicyDecision)) == 0
        assert await session.scalar(select(func.count()).select_from(ApprovalRequest)) == 0

    async def test_events_outside_the_range_are_not_replayed(self, session: AsyncSession) -> None:
        rita, _ = await create_user(session)
        ticket = await ticket_for(session, requester=rita)
        old = utcnow() - timedelta(days=30)
        await store_event(session, ticket, kind="ticket.resolved", new="resolved", occurred_at=old)
        diff = await simulate(
            session,
            parse_policy(WITHOUT_RESOLUTION),
            since=utcnow() - timedelta(days=1),
            until=utcnow(),
        )
        assert (diff.events, diff.removed) == (0, [])


async def test_simulate_over_http(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, admin = await create_user(session, role=Role.ADMIN)
    rita, _ = await create_user(session)
    ticket = await ticket_for(session, requester=rita)
    moment = utcnow() - timedelta(minutes=30)
    await store_event(session, ticket, kind="ticket.resolved", new="resolved", occurred_at=moment)
    since = (moment - timedelta(minutes=1)).isoformat()
    response = await client.post(
        "/api/v1/policy/simulate",
        params={"since": since},
        content=WITHOUT_RESOLUTION,
        headers=auth(admin) | YAML,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"]["removed"] == 2
    assert body["active_version"] == 1
    assert {e["recipient_user_id"] for e in body["removed"]} == {rita.id}
    bad = await client.post(
        "/api/v1/policy/simulate", content="rules: 3", headers=auth(admin) | YAML
    )
    assert bad.status_code == 422
    backwards = await client.post(
        "/api/v1/policy/simulate",
        params={"since": utcnow().isoformat(), "until": since},
        content=WITHOUT_RESOLUTION,
        headers=auth(admin) | YAML,
    )
    assert backwards.status_code == 422
