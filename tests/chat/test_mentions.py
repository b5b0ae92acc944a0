"""@mentions raise the `chat.message` event with the users who may read the message."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import service
from app.chat.schemas import ChatMessageEvent
from app.chat.service import NewMessage, do_post_message
from app.models import ChatWriteback, Role
from app.realtime.bus import MemoryBus
from tests.factories import auth, create_ticket, create_user


@pytest.fixture
def heard() -> Iterator[list[ChatMessageEvent]]:
    """Events seen by a listener plugged into the hook point, as the policy will be."""
    events: list[ChatMessageEvent] = []

    async def listener(_session: AsyncSession, batch: Sequence[ChatMessageEvent]) -> None:
        events.extend(batch)

    service.message_listeners.append(listener)
    yield events
    service.message_listeners.remove(listener)


async def test_mentions_reach_the_hook_with_user_ids(
    session: AsyncSession, heard: list[ChatMessageEvent]
) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    colleague, _ = await create_user(session, role=Role.AGENT, email="bo@example.org")
    admin, _ = await create_user(session, role=Role.ADMIN)
    requester, _ = await create_user(session)
    stranger, _ = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    body = (
        f"@Bo@Example.org and @[Admin](user:{admin.id}) and @[Erin](user:{requester.id}), "
        f"not @[Stranger](user:{stranger.id}) nor @[Me](user:{agent.id}) nor @[Ghost](user:0)"
    )
    outcome = await do_post_message(
        session, NewMessage(agent, ticket.id, body, "public", "m1"), bus=MemoryBus()
    )
    assert outcome.message is not None
    expected = sorted([colleague.id, admin.id, requester.id])
    assert outcome.message.mentions == expected
    [event] = heard
    assert event.as_dict() == {
        "type": "chat.message",
        "source_id": f"chat:{outcome.message.id}",
        "ticket_id": ticket.id,
        "connector_id": ticket.connector_id,
        "message_id": outcome.message.id,
        "actor_user_id": agent.id,
        "visibility": "public",
        "mentions": expected,
        "occurred_at": outcome.message.created_at.isoformat(),
    }


async def test_an_internal_message_mentions_staff_only(
    session: AsyncSession, heard: list[ChatMessageEvent]
) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    colleague, _ = await create_user(session, role=Role.AGENT)
    requester, _ = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    body = f"@[Bo](user:{colleague.id}) should we tell @[Erin](user:{requester.id})?"
    await do_post_message(
        session, NewMessage(agent, ticket.id, body, "internal", "m1"), bus=MemoryBus()
    )
    assert [(e.visibility, e.mentions) for e in heard] == [("internal", (colleague.id,))]


async def test_the_hook_runs_once_per_message_and_in_its_transaction(
    session: AsyncSession, heard: list[ChatMessageEvent]
) -> None:
    agent, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    post = NewMessage(agent, ticket.id, "hello", "public", "same")
    first = await do_post_message(session, post, bus=MemoryBus())
    again = await do_post_message(session, post, bus=MemoryBus())
    assert again.message is not None
    assert first.message is not None
    assert again.message.id == first.message.id
    assert (first.created, again.created) == (True, False)
    assert len(heard) == 1
    # the default listener scheduled the write-back in the same transaction
    assert first.message is not None
    scheduled = (await session.execute(select(ChatWriteback))).scalars().all()
    assert [(w.message_id, w.state) for w in scheduled] == [(first.message.id, "pending")]


async def test_mentions_are_returned_over_http(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, token = await create_user(session, role=Role.AGENT)
    requester, _ = await create_user(session, email="erin@example.org")
    ticket = await create_ticket(session, requester=requester)
    await session.commit()
    answer = await client.post(
        f"/api/v1/tickets/{ticket.id}/messages",
        json={"body": "@erin@example.org can you retry?"},
        headers=auth(token),
    )
    assert answer.json()["mentions"] == [requester.id]
