"""What the status domain hands the policy: events for published updates, replayable."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.policy.decisions.sources import event_sources
from app.status.events import load_status_updates_between
from tests.status.conftest import Desk, add_service, approve, open_incident, post_update


async def test_published_updates_replay_as_policy_events(
    client: httpx.AsyncClient, desk: Desk, session: AsyncSession
) -> None:
    await add_service(client, desk, "vpn")
    incident = await open_incident(
        client, desk, ["vpn"], body="staff text", public_body="public text"
    )
    await post_update(client, desk, incident["id"], body="draft only")  # pending: not replayed
    assert (await approve(client, desk, incident["updates"][0]["id"])).status_code == 200
    await post_update(
        client, desk, incident["id"], body="done", audience="internal", status="resolved"
    )
    assert event_sources()["status_updates"] is load_status_updates_between
    now = utcnow()
    sourced = await load_status_updates_between(
        session, now - timedelta(minutes=5), now + timedelta(minutes=5), 10
    )
    assert [(s.event.type, s.event.audience) for s in sourced] == [
        ("status.update", "public"),
        ("status.resolved", "internal"),
    ]
    public, internal = (s.event for s in sourced)
    assert public.visibility == "public"
    assert public.public_body == "public text"
    assert public.body == "staff text"
    assert internal.visibility == "internal"
    assert internal.public_body is None
    assert sourced[0].scope.service == "vpn"
