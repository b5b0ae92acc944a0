from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from tests.factories import auth, create_connector, create_event, create_ticket, create_user


class TestLeastVisibility:
    async def test_agent_sees_every_ticket_end_user_only_their_own(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, erin_token = await create_user(session)
        sam, _ = await create_user(session)
        _, agent_token = await create_user(session, role=Role.AGENT)
        connector = await create_connector(session)
        mine = await create_ticket(session, connector=connector, requester=erin)
        theirs = await create_ticket(session, connector=connector, requester=sam)
        await session.commit()

        params = {"connector_id": connector.id}
        agent_ids = {
            t["id"]
            for t in (
                await client.get("/api/v1/tickets", params=params, headers=auth(agent_token))
            ).json()["items"]
        }
        erin_ids = {
            t["id"]
            for t in (
                await client.get("/api/v1/tickets", params=params, headers=auth(erin_token))
            ).json()["items"]
        }
        assert agent_ids == {mine.id, theirs.id}
        assert erin_ids == {mine.id}

    async def test_a_forbidden_ticket_answers_exactly_like_a_missing_one(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, erin_token = await create_user(session)
        sam, _ = await create_user(session)
        theirs = await create_ticket(session, requester=sam)
        await session.commit()

        forbidden = await client.get(f"/api/v1/tickets/{theirs.id}", headers=auth(erin_token))
        missing = await client.get("/api/v1/tickets/999999999", headers=auth(erin_token))
        assert forbidden.status_code == missing.status_code == 404
        assert forbidden.json() == missing.json()
        timeline = await client.get(
            f"/api/v1/tickets/{theirs.id}/timeline", headers=auth(erin_token)
        )
        assert timeline.status_code == 404
        assert timeline.json() == missing.json()

    async def test_timeline_hides_internal_notes_from_the_requester(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        erin, erin_token = await create_user(session)
        _, agent_token = await create_user(session, role=Role.AGENT)
        ticket = await create_ticket(session, requester=erin)
        await create_event(session, ticket, body="We are on it", visibility="public")
        await create_event(session, ticket, body="db01 password reset", visibility="internal")
        await session.commit()

        url = f"/api/v1/tickets/{ticket.id}/timeline"
        erin_view = (await client.get(url, headers=auth(erin_token))).json()["items"]
        agent_view = (await client.get(url, headers=auth(agent_token))).json()["items"]
        assert [e["body"] for e in erin_view] == ["We are on it"]
        assert [e["body"] for e in agent_view] == ["We are on it", "db01 password reset"]
        assert "db01" not in str(erin_view)


class TestFilters:
    async def test_filters_by_connector_external_id_and_status(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session, role=Role.AGENT)
        a, b = await create_connector(session), await create_connector(session)
        open_a = await create_ticket(session, connector=a, status="open")
        done_a = await create_ticket(session, connector=a, status="resolved")
        await create_ticket(session, connector=b, status="open")
        await session.commit()

        async def ids(**params: str | int) -> list[int]:
            response = await client.get("/api/v1/tickets", params=params, headers=auth(token))
            assert response.status_code == 200, response.text
            return [t["id"] for t in response.json()["items"]]

        assert await ids(connector_id=a.id) == [open_a.id, done_a.id]
        assert await ids(connector_id=a.id, status="resolved") == [done_a.id]
        assert await ids(connector_id=a.id, external_id=open_a.external_id) == [open_a.id]

    async def test_unknown_status_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session, role=Role.AGENT)
        await session.commit()
        response = await client.get(
            "/api/v1/tickets", params={"status": "done"}, headers=auth(token)
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "query.status"

    async def test_pages_with_after(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        _, token = await create_user(session, role=Role.AGENT)
        connector = await create_connector(session)
        made = [await create_ticket(session, connector=connector) for _ in range(5)]
        await session.commit()
        seen: list[int] = []
        after = None
        while True:
            params: dict[str, str | int] = {"connector_id": connector.id, "limit": 2}
            if after is not None:
                params["after"] = after
            page = (await client.get("/api/v1/tickets", params=params, headers=auth(token))).json()
            seen += [t["id"] for t in page["items"]]
            after = page["next_after"]
            if after is None:
                break
        assert seen == [t.id for t in made]
