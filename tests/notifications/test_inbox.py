"""The in-app inbox: delivery with a live push, unread count, mark read, explain."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import utcnow
from app.models import Role
from app.policy.engine.document import load_default_policy
from app.policy.engine.evaluator import Recipient, evaluate
from app.realtime.bus import MemoryBus
from tests.factories import auth, create_ticket, create_user
from tests.notifications.support import (
    decision,
    enqueue,
    inbox_of,
    make_relay,
    ticket_event,
)


class TestInApp:
    async def test_a_notification_lands_in_the_inbox_and_is_pushed_after_commit(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket, old="open", new="pending")
        await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        bus = MemoryBus()
        async with bus.subscribe(f"user:{erin.id}") as frames:
            await make_relay(db, bus=bus).drain()
            frame = await asyncio.wait_for(anext(aiter(frames)), timeout=2)
        (item,) = await inbox_of(session, erin.id)
        assert frame == {"type": "notification", "id": item.id}
        assert "Status changed from open to pending" in item.title
        assert item.url == f"https://desk.example.com/tickets/{ticket.id}"

    async def test_replaying_the_same_event_adds_nothing(
        self, db: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        decided = [decision(event, f"user:{erin.id}")]
        assert await enqueue(session, event, decided, ticket) == 1
        assert await enqueue(session, event, decided, ticket) == 0
        await make_relay(db).drain()
        assert len(await inbox_of(session, erin.id)) == 1


class TestInboxApi:
    async def test_unread_count_paging_and_mark_read(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        client: httpx.AsyncClient,
    ) -> None:
        erin, token = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        for _ in range(3):
            event = ticket_event(ticket)
            await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        await make_relay(db).drain()

        page = (await client.get("/api/v1/me/notifications?limit=2", headers=auth(token))).json()
        assert page["unread_count"] == 3
        assert len(page["items"]) == 2
        assert page["next_before"] == page["items"][-1]["id"]
        rest = await client.get(
            f"/api/v1/me/notifications?before={page['next_before']}", headers=auth(token)
        )
        assert len(rest.json()["items"]) == 1
        newest = page["items"][0]["id"]
        read = await client.post(f"/api/v1/me/notifications/{newest}/read", headers=auth(token))
        assert read.status_code == 200
        assert read.json()["read_at"] is not None
        after = (await client.get("/api/v1/me/notifications", headers=auth(token))).json()
        assert after["unread_count"] == 2
        unread = await client.get("/api/v1/me/notifications?unread=true", headers=auth(token))
        assert newest not in [i["id"] for i in unread.json()["items"]]
        marked = await client.post("/api/v1/me/notifications/read", headers=auth(token))
        assert marked.json() == {"marked": 2}

    async def test_someone_elses_notification_looks_missing(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        client: httpx.AsyncClient,
    ) -> None:
        erin, _ = await create_user(session)
        _, sam_token = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}")], ticket)
        await make_relay(db).drain()
        (item,) = await inbox_of(session, erin.id)
        for path in (f"/{item.id}/read", f"/{item.id}/explain", "/999999/explain"):
            method = client.post if path.endswith("read") else client.get
            answer = await method(f"/api/v1/me/notifications{path}", headers=auth(sam_token))
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "not_found"

    async def test_explain_says_which_rule_sent_it_and_why(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        client: httpx.AsyncClient,
    ) -> None:
        erin, token = await create_user(session)
        _, agent_token = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session, requester=erin, priority="P2")
        event = ticket_event(ticket, type="ticket.resolved")
        erin_recipient = Recipient(
            key=f"user:{erin.id}", role="end_user", audiences=frozenset({"requester"}),
            channels=frozenset({"in_app"}), may_see_ticket=True, user_id=erin.id,
        )  # fmt: skip
        decisions = evaluate(load_default_policy(), event, [erin_recipient], utcnow())
        await enqueue(session, event, decisions, ticket)
        await make_relay(db).drain()
        (item,) = await inbox_of(session, erin.id)

        explained = await client.get(
            f"/api/v1/me/notifications/{item.id}/explain", headers=auth(token)
        )
        body = explained.json()
        assert explained.status_code == 200
        (found,) = body["decisions"]
        assert found["rule_id"] == "requester-hears-resolution"
        assert found["outcome"] == "send"
        assert found["channel"] == "in_app"
        assert any(r["kind"] == "rule" and r["matched"] for r in found["reasons"])
        assert "requester-hears-resolution" in body["summary"]
        denied = await client.get(
            f"/api/v1/me/notifications/{item.id}/explain", headers=auth(agent_token)
        )
        assert denied.status_code == 404
