"""Apprise URLs against a real local endpoint (Apprise's JSON notification type)."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import create_ticket, create_user
from tests.notifications.receivers import HttpReceiver
from tests.notifications.support import (
    add_destination,
    decision,
    enqueue,
    make_relay,
    statuses,
    ticket_event,
)


class TestApprise:
    async def test_each_apprise_url_of_the_recipient_gets_the_update(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        host = url.removeprefix("http://")
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin, title="Mail is slow")
        await add_destination(session, erin.id, "apprise", f"json://{host}/chat-a")
        await add_destination(session, erin.id, "apprise", f"json://{host}/chat-b")
        event = ticket_event(ticket, old="new", new="in_progress")
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "apprise")], ticket)

        await make_relay(db, allow_private_destinations=True).drain()

        assert sorted(r.path for r in server.requests) == ["/chat-a", "/chat-b"]
        body = json.loads(server.requests[0].body)
        assert "Mail is slow" in body["title"]
        assert "Status changed from new to in_progress" in body["message"]
        assert await statuses(session) == {"sent": 2}

    async def test_an_endpoint_that_fails_is_retried(
        self,
        db: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        receiver: tuple[HttpReceiver, str],
    ) -> None:
        server, url = receiver
        server.status = lambda _request: 500
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await add_destination(
            session, erin.id, "apprise", f"json://{url.removeprefix('http://')}/x"
        )
        event = ticket_event(ticket)
        await enqueue(session, event, [decision(event, f"user:{erin.id}", "apprise")], ticket)
        await make_relay(db, allow_private_destinations=True).drain()
        assert len(server.requests) >= 1
        assert await statuses(session) == {"pending": 1}
