from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, Ticket, TicketEvent, User
from tests.factories import auth, create_connector, create_user

# Monday 2026-11-16, 09:00 UTC (the default calendar: Mon-Fri 09-17 UTC)
MONDAY = datetime(2026, 11, 16, 9, tzinfo=UTC)


async def _ticket(
    session: AsyncSession,
    connector_id: int,
    requester: User,
    *,
    opened: datetime,
    priority: str = "P2",
    replies: list[tuple[timedelta, str, int | None]] | None = None,
) -> Ticket:
    ticket = Ticket(
        connector_id=connector_id,
        external_id=f"M-{opened.isoformat()}-{priority}",
        title="x",
        status="open",
        raw_status="open",
        priority=priority,
        raw_priority=priority,
        requester_user_id=requester.id,
        requester_email=requester.email,
        opened_at=opened,
        external_updated_at=opened,
    )
    session.add(ticket)
    await session.flush()
    for n, (after, visibility, actor_id) in enumerate(replies or []):
        session.add(
            TicketEvent(
                connector_id=connector_id,
                ticket_id=ticket.id,
                source_id=f"m:{ticket.id}:{n}",
                kind="ticket.commented",
                visibility=visibility,
                actor_user_id=actor_id,
                body="reply",
                occurred_at=opened + after,
            )
        )
    await session.flush()
    return ticket


async def test_sla_share_percentiles_and_csv(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    agent, agent_token = await create_user(session, role=Role.AGENT)
    erin, erin_token = await create_user(session)
    connector = await create_connector(session)
    # P2: first response within 60 business minutes
    await _ticket(
        session,
        connector.id,
        erin,
        opened=MONDAY,
        replies=[(timedelta(minutes=30), "public", agent.id)],
    )  # met, 1800 s
    await _ticket(
        session,
        connector.id,
        erin,
        opened=MONDAY + timedelta(hours=1),
        replies=[
            (timedelta(minutes=10), "internal", agent.id),  # not a response
            (timedelta(minutes=20), "public", erin.id),  # the requester
            (timedelta(minutes=90), "public", agent.id),
        ],
    )  # missed, 5400 s
    await _ticket(session, connector.id, erin, opened=MONDAY + timedelta(days=1))  # missed, silent
    await session.commit()

    params: dict[str, str | int] = {
        "from": "2026-11-16T00:00:00Z",
        "to": "2026-11-21T00:00:00Z",
        "connector_id": connector.id,
    }
    response = await client.get("/api/v1/metrics/sla", params=params, headers=auth(agent_token))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["tickets"] == 3
    assert report["judged"] == 3
    assert report["acted_within_sla"] == 1
    assert report["share_acted_within_sla"] == round(1 / 3, 4)
    assert report["first_response_seconds"]["p50"] == 1800
    assert report["first_response_seconds"]["p90"] == 5400
    assert [(d["date"], d["tickets"], d["responded_within_sla"]) for d in report["daily"]] == [
        ("2026-11-16", 2, 1),
        ("2026-11-17", 1, 0),
    ]

    exported = await client.get(
        "/api/v1/metrics/sla/tickets.csv", params=params, headers=auth(agent_token)
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["first_response_met"] for r in rows] == ["True", "False", "False"]
    assert rows[0]["first_response_seconds"] == "1800"

    forbidden = await client.get("/api/v1/metrics/sla", headers=auth(erin_token))
    assert forbidden.status_code == 403


async def test_settings_are_admin_edited_and_validated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await create_user(session, role=Role.ADMIN)
    _, agent = await create_user(session, role=Role.AGENT)
    await session.commit()
    current = (await client.get("/api/v1/metrics/sla/settings", headers=auth(agent))).json()
    assert current["targets"]["P1"]["clock"] == "calendar"

    current["calendar"]["timezone"] = "Europe/Berlin"
    current["calendar"]["holidays"] = ["2026-12-25"]
    assert (
        await client.put("/api/v1/metrics/sla/settings", json=current, headers=auth(agent))
    ).status_code == 403
    saved = await client.put("/api/v1/metrics/sla/settings", json=current, headers=auth(admin))
    assert saved.status_code == 200
    again = (await client.get("/api/v1/metrics/sla/settings", headers=auth(agent))).json()
    assert again["calendar"]["timezone"] == "Europe/Berlin"

    current["calendar"]["timezone"] = "Mars/Olympus"
    current["targets"]["P2"] = {"first_response_minutes": 60, "resolution_minutes": 30}
    bad = await client.put("/api/v1/metrics/sla/settings", json=current, headers=auth(admin))
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert "calendar.timezone" in fields
    assert "targets.P2" in fields


async def test_an_inverted_range_is_a_clear_422(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, agent = await create_user(session, role=Role.AGENT)
    await session.commit()
    response = await client.get(
        "/api/v1/metrics/sla",
        params={"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        headers=auth(agent),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_range"


async def test_a_public_chat_reply_counts_as_the_first_response(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from app.models import ChatMessage

    agent, agent_token = await create_user(session, role=Role.AGENT)
    erin, _ = await create_user(session)
    connector = await create_connector(session)
    ticket = await _ticket(session, connector.id, erin, opened=MONDAY + timedelta(days=2))
    session.add_all(
        [
            ChatMessage(
                ticket_id=ticket.id,
                author_user_id=agent.id,
                body="internal first",
                visibility="internal",
                client_msg_id="i1",
                created_at=MONDAY + timedelta(days=2, minutes=5),
            ),
            ChatMessage(
                ticket_id=ticket.id,
                author_user_id=erin.id,
                body="any news?",
                visibility="public",
                client_msg_id="e1",
                created_at=MONDAY + timedelta(days=2, minutes=10),
            ),
            ChatMessage(
                ticket_id=ticket.id,
                author_user_id=agent.id,
                body="On it!",
                visibility="public",
                client_msg_id="a1",
                created_at=MONDAY + timedelta(days=2, minutes=20),
            ),
        ]
    )
    await session.commit()
    params: dict[str, str | int] = {
        "from": "2026-11-18T00:00:00Z",
        "to": "2026-11-19T00:00:00Z",
        "connector_id": connector.id,
    }
    report = (
        await client.get("/api/v1/metrics/sla", params=params, headers=auth(agent_token))
    ).json()
    assert report["tickets"] == 1
    assert report["acted_within_sla"] == 1
    assert report["first_response_seconds"]["p50"] == 20 * 60


async def test_engagement_figures(client: httpx.AsyncClient, session: AsyncSession) -> None:
    from app.models import ChatMessage, Delivery, TicketFollow

    agent, agent_token = await create_user(session, role=Role.AGENT)
    erin, _ = await create_user(session)
    sam, _ = await create_user(session)
    connector = await create_connector(session)
    opened = MONDAY + timedelta(days=3)
    chatty = await _ticket(session, connector.id, erin, opened=opened)
    await _ticket(session, connector.id, erin, opened=opened + timedelta(hours=1))
    session.add(TicketFollow(ticket_id=chatty.id, user_id=sam.id, source="manual"))
    session.add_all(
        [
            ChatMessage(
                ticket_id=chatty.id,
                author_user_id=agent.id,
                body=f"m{n}",
                visibility="public",
                client_msg_id=f"eng{n}",
                created_at=opened,
            )
            for n in range(3)
        ]
    )
    moved = TicketEvent(
        connector_id=connector.id,
        ticket_id=chatty.id,
        source_id="eng:moved",
        kind="ticket.status_changed",
        visibility="public",
        new_value="in_progress",
        occurred_at=opened + timedelta(minutes=5),
    )
    session.add(moved)
    await session.flush()
    session.add(
        Delivery(
            idempotency_key=f"ticket_event:{moved.id}:user:{erin.id}:in_app",
            event_key=f"ticket_event:{moved.id}",
            recipient_key=f"user:{erin.id}",
            channel="in_app",
            user_id=erin.id,
            timing="send",
            status="sent",
            deliver_at=moved.occurred_at,
            sent_at=moved.occurred_at + timedelta(seconds=90),
        )
    )
    await session.commit()
    params = {"from": "2026-11-19T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    body = (
        await client.get("/api/v1/metrics/engagement", params=params, headers=auth(agent_token))
    ).json()
    assert body["tickets"] == 2
    assert body["followers_per_ticket"] == 1.5  # two requesters + Sam, over two tickets
    assert body["chat_messages_per_ticket"] == 1.5
    assert body["share_with_chat"] == 0.5
    assert body["deliveries_by_channel"] == {"in_app": 1}
    assert body["requester_told_median_seconds"] == 90
