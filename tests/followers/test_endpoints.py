"""Following tickets and services over the API, under the least-visibility rule."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.followers.audiences import followers_of, service_subscribers_of
from app.models import Role, Service
from tests.factories import auth, create_ticket, create_user


class TestFollowTicket:
    async def test_an_end_user_follows_a_followable_ticket_and_unfollows_it(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, token = await create_user(session)
        incident = await create_ticket(session, title="Mail outage")
        incident.followable = True
        await session.commit()

        put = await client.put(f"/api/v1/tickets/{incident.id}/follow", headers=auth(token))
        assert put.status_code == 200
        assert put.json()["following"] is True
        assert put.json()["source"] == "manual"
        again = await client.put(f"/api/v1/tickets/{incident.id}/follow", headers=auth(token))
        assert again.status_code == 200  # idempotent
        assert await followers_of(session, incident.id) == [erin.id]

        gone = await client.delete(f"/api/v1/tickets/{incident.id}/follow", headers=auth(token))
        assert gone.status_code == 204
        assert await followers_of(session, incident.id) == []

    async def test_a_ticket_an_end_user_may_not_follow_looks_missing(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        sam, _ = await create_user(session)
        theirs = await create_ticket(session, requester=sam)
        await session.commit()
        for method in (client.put, client.delete):
            denied = await method(f"/api/v1/tickets/{theirs.id}/follow", headers=auth(token))
            missing = await method("/api/v1/tickets/999999999/follow", headers=auth(token))
            assert denied.status_code == missing.status_code == 404
            assert denied.json() == missing.json()
        listing = await client.get(f"/api/v1/tickets/{theirs.id}/followers", headers=auth(token))
        assert listing.status_code == 404

    async def test_staff_follow_any_ticket(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        agent, token = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
        await session.commit()
        put = await client.put(f"/api/v1/tickets/{ticket.id}/follow", headers=auth(token))
        assert put.status_code == 200
        assert await followers_of(session, ticket.id) == [agent.id]


class TestRequesterFollowsImplicitly:
    async def test_the_requester_follows_until_they_unfollow_and_can_come_back(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, token = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        await session.commit()
        assert await followers_of(session, ticket.id) == [erin.id]
        mine = (await client.get("/api/v1/me/follows", headers=auth(token))).json()
        assert [(t["ticket_id"], t["source"]) for t in mine["tickets"]] == [
            (ticket.id, "requester")
        ]

        await client.delete(f"/api/v1/tickets/{ticket.id}/follow", headers=auth(token))
        assert await followers_of(session, ticket.id) == []
        assert (await client.get("/api/v1/me/follows", headers=auth(token))).json()["tickets"] == []

        back = await client.put(f"/api/v1/tickets/{ticket.id}/follow", headers=auth(token))
        assert back.json()["source"] == "requester"
        assert await followers_of(session, ticket.id) == [erin.id]

    async def test_inactive_users_are_nobody_s_audience(self, session: AsyncSession) -> None:
        erin, _ = await create_user(session)
        ticket = await create_ticket(session, requester=erin)
        erin.is_active = False
        await session.flush()
        assert await followers_of(session, ticket.id) == []


class TestFollowersList:
    async def test_staff_see_everything_end_users_only_names(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, erin_token = await create_user(session, name="Erin Employee")
        _, agent_token = await create_user(session, role=Role.AGENT, name="Alex Agent")
        sam, sam_token = await create_user(session, name="Sam Staffer")
        ticket = await create_ticket(session, requester=erin)
        ticket.followable = True
        await session.commit()
        await client.put(f"/api/v1/tickets/{ticket.id}/follow", headers=auth(sam_token))
        await client.put(f"/api/v1/tickets/{ticket.id}/follow", headers=auth(agent_token))

        staff = await client.get(
            f"/api/v1/tickets/{ticket.id}/followers", headers=auth(agent_token)
        )
        body = staff.json()
        assert body["total"] == 3
        by_name = {f["name"]: f for f in body["items"]}
        assert by_name["Erin Employee"]["source"] == "requester"
        assert by_name["Sam Staffer"]["email"] == sam.email

        seen = await client.get(f"/api/v1/tickets/{ticket.id}/followers", headers=auth(erin_token))
        assert seen.status_code == 200
        items = seen.json()["items"]
        assert {f["name"] for f in items} == {"Erin Employee", "Alex Agent", "Sam Staffer"}
        assert all(set(f) == {"name"} for f in items)  # no ids, e-mails or roles

    async def test_staff_page_through_followers(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, agent_token = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session)
        ticket.followable = True
        tokens = [(await create_user(session))[1] for _ in range(5)]
        await session.commit()
        for token in tokens:
            await client.put(f"/api/v1/tickets/{ticket.id}/follow", headers=auth(token))
        first = await client.get(
            f"/api/v1/tickets/{ticket.id}/followers?limit=3", headers=auth(agent_token)
        )
        rest = await client.get(
            f"/api/v1/tickets/{ticket.id}/followers?limit=3&after={first.json()['next_after']}",
            headers=auth(agent_token),
        )
        assert len(first.json()["items"]) == 3
        assert len(rest.json()["items"]) == 2


class TestServices:
    async def test_follow_and_unfollow_a_service_by_slug(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, token = await create_user(session)
        session.add(Service(slug="e-mail", name="E-mail", visibility="employees"))
        await session.commit()
        put = await client.put("/api/v1/services/e-mail/follow", headers=auth(token))
        assert put.status_code == 200
        assert put.json()["service"] == "e-mail"
        await client.put("/api/v1/services/e-mail/follow", headers=auth(token))
        assert await service_subscribers_of(session, "e-mail") == [erin.id]
        mine = (await client.get("/api/v1/me/follows", headers=auth(token))).json()
        assert [s["service"] for s in mine["services"]] == ["e-mail"]
        gone = await client.delete("/api/v1/services/e-mail/follow", headers=auth(token))
        assert gone.status_code == 204
        assert await service_subscribers_of(session, "e-mail") == []

    async def test_only_a_service_the_person_may_see_can_be_followed(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, token = await create_user(session)
        _, agent_token = await create_user(session, role=Role.AGENT)
        session.add(Service(slug="core-switch", name="Core switch", visibility="internal"))
        await session.commit()
        # An employee cannot learn of (or subscribe to) an internal service, nor a missing one.
        for slug in ("core-switch", "no-such-service"):
            hidden = await client.put(f"/api/v1/services/{slug}/follow", headers=auth(token))
            assert hidden.status_code == 404
            assert hidden.json()["error"]["code"] == "not_found"
        assert await service_subscribers_of(session, "core-switch") == []
        mine = (await client.get("/api/v1/me/follows", headers=auth(token))).json()
        assert mine["services"] == []
        # Staff read internal services, so they may follow one.
        staff = await client.put("/api/v1/services/core-switch/follow", headers=auth(agent_token))
        assert staff.status_code == 200
        assert erin.id not in await service_subscribers_of(session, "core-switch")

    async def test_a_malformed_slug_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        bad = await client.put("/api/v1/services/Mail%20Server/follow", headers=auth(token))
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_input"

    async def test_following_needs_a_signed_in_person(self, client: httpx.AsyncClient) -> None:
        assert (await client.put("/api/v1/services/mail/follow")).status_code == 401
