"""chat.message reactions: the policy decides, the outbox is written, internal stays internal."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat.events import notify_pending
from app.models import ChatMessage, Delivery, PolicyDecision, Role
from tests.factories import auth, create_ticket, create_user


async def _deliveries(session: AsyncSession, message_id: int) -> set[tuple[int | None, str]]:
    rows = await session.execute(
        select(Delivery.user_id, Delivery.channel).where(
            Delivery.event_key == f"chat_message:{message_id}"
        )
    )
    return {(user_id, channel) for user_id, channel in rows.all()}


async def test_requester_hears_public_replies_and_never_internal_ones(
    client: httpx.AsyncClient, session: AsyncSession, db: async_sessionmaker[AsyncSession]
) -> None:
    erin, _ = await create_user(session)
    _, agent_token = await create_user(session, role=Role.AGENT)
    colleague, _ = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session, requester=erin)
    await session.commit()

    url = f"/api/v1/tickets/{ticket.id}/messages"
    public = await client.post(
        url, json={"body": "We restarted the VPN gateway."}, headers=auth(agent_token)
    )
    internal = await client.post(
        url,
        json={
            "body": f"@[{colleague.name}](user:{colleague.id}) cert expired on 10.0.0.7",
            "visibility": "internal",
        },
        headers=auth(agent_token),
    )
    assert public.status_code == internal.status_code == 201
    assert await notify_pending(db) >= 2
    assert await notify_pending(db) == 0  # each message is reacted to once

    async with db() as check:
        to_public = await _deliveries(check, public.json()["id"])
        to_internal = await _deliveries(check, internal.json()["id"])
        assert (erin.id, "in_app") in to_public
        assert all(user_id != erin.id for user_id, _ in to_internal)
        assert (colleague.id, "in_app") in to_internal  # mentioned staff hear it
        stamped = await check.scalar(
            select(ChatMessage.notified_at).where(ChatMessage.id == internal.json()["id"])
        )
        assert stamped is not None
        decisions = (
            (
                await check.execute(
                    select(PolicyDecision.outcome).where(
                        PolicyDecision.event_key == f"chat_message:{internal.json()['id']}",
                        PolicyDecision.recipient_user_id == erin.id,
                    )
                )
            )
            .scalars()
            .all()
        )
        assert decisions
        assert set(decisions) == {"suppress"}


async def test_an_agent_who_writes_follows_the_ticket_unless_configured_otherwise(
    client: httpx.AsyncClient, session: AsyncSession, db: async_sessionmaker[AsyncSession]
) -> None:
    from app.models import TicketFollow

    erin, _ = await create_user(session)
    agent, agent_token = await create_user(session, role=Role.AGENT)
    quiet, quiet_token = await create_user(session, role=Role.AGENT)
    first = await create_ticket(session, requester=erin)
    second = await create_ticket(session, requester=erin)
    await session.commit()
    await client.post(
        f"/api/v1/tickets/{first.id}/messages", json={"body": "Looking."}, headers=auth(agent_token)
    )
    while await notify_pending(db):
        pass
    await client.post(
        f"/api/v1/tickets/{second.id}/messages", json={"body": "Me too."}, headers=auth(quiet_token)
    )
    while await notify_pending(db, follow_on_comment=False):
        pass
    async with db() as check:
        follows = (
            await check.execute(
                select(TicketFollow.ticket_id, TicketFollow.user_id, TicketFollow.source)
            )
        ).all()
    assert (first.id, agent.id, "commented") in follows
    assert all(user_id != quiet.id for _, user_id, _ in follows)
