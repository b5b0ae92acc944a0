"""Ticket chat over HTTP: the same rules as the socket, in the standard error shape."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ChatMessageAudit, Role, Ticket, User
from tests.factories import auth, create_ticket, create_user


@dataclass
class People:
    agent: User
    agent_token: str
    agent2_token: str
    admin_token: str
    requester: User
    requester_token: str
    stranger_token: str
    ticket: Ticket

    @property
    def url(self) -> str:
        return f"/api/v1/tickets/{self.ticket.id}/messages"


@pytest.fixture
async def people(session: AsyncSession) -> People:
    agent, agent_token = await create_user(session, role=Role.AGENT)
    _, agent2_token = await create_user(session, role=Role.AGENT)
    _, admin_token = await create_user(session, role=Role.ADMIN)
    requester, requester_token = await create_user(session)
    _, stranger_token = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    await session.commit()
    return People(
        agent,
        agent_token,
        agent2_token,
        admin_token,
        requester,
        requester_token,
        stranger_token,
        ticket,
    )


async def _post(
    client: httpx.AsyncClient, p: People, token: str, body: str, **extra: str
) -> httpx.Response:
    return await client.post(p.url, json={"body": body, **extra}, headers=auth(token))


class TestPostAndList:
    async def test_post_then_list_in_order(self, client: httpx.AsyncClient, people: People) -> None:
        first = await _post(client, people, people.requester_token, "Printer *jammed*")
        assert first.status_code == 201
        assert first.json()["html"] == "<p>Printer <em>jammed</em></p>\n"
        assert first.json()["client_msg_id"].startswith("http-")
        second = await _post(client, people, people.agent_token, "Coming", client_msg_id="c1")
        listed = await client.get(people.url, headers=auth(people.requester_token))
        assert [m["id"] for m in listed.json()["items"]] == [
            first.json()["id"],
            second.json()["id"],
        ]
        page = await client.get(
            people.url,
            params={"after": first.json()["id"], "limit": 1},
            headers=auth(people.agent_token),
        )
        assert [m["body"] for m in page.json()["items"]] == ["Coming"]
        assert page.json()["next_after"] == second.json()["id"]

    async def test_a_retried_post_returns_the_first_message(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        first = await _post(client, people, people.agent_token, "once", client_msg_id="k")
        again = await _post(client, people, people.agent_token, "once", client_msg_id="k")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        listed = await client.get(people.url, headers=auth(people.agent_token))
        assert len(listed.json()["items"]) == 1

    async def test_end_users_cannot_post_internal(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        answer = await _post(client, people, people.requester_token, "x", visibility="internal")
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "forbidden"

    async def test_a_ticket_out_of_sight_is_missing(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        denied = await _post(client, people, people.stranger_token, "hello?")
        missing = await client.post(
            "/api/v1/tickets/987654321/messages",
            json={"body": "hello?"},
            headers=auth(people.stranger_token),
        )
        assert denied.status_code == missing.status_code == 404
        assert denied.json() == missing.json()
        listed = await client.get(people.url, headers=auth(people.stranger_token))
        assert listed.status_code == 404

    async def test_a_body_over_the_limit_is_invalid_input(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        answer = await _post(client, people, people.agent_token, "z" * 10_001)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_input"
        assert "10000 characters" in answer.json()["error"]["details"][0]["message"]


class TestEditAndDelete:
    async def test_the_author_edits_and_the_old_body_is_audited(
        self, client: httpx.AsyncClient, people: People, session: AsyncSession
    ) -> None:
        posted = (await _post(client, people, people.agent_token, "teh fix")).json()
        url = f"/api/v1/messages/{posted['id']}"
        edited = await client.patch(url, json={"body": "the fix"}, headers=auth(people.agent_token))
        assert edited.status_code == 200
        assert edited.json()["body"] == "the fix"
        assert edited.json()["edited_at"] is not None
        audit = (await session.execute(select(ChatMessageAudit))).scalars().all()
        assert [(a.action, a.old_body, a.actor_user_id) for a in audit] == [
            ("edit", "teh fix", people.agent.id)
        ]

    async def test_only_the_author_or_an_admin(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        posted = (await _post(client, people, people.agent_token, "mine")).json()
        url = f"/api/v1/messages/{posted['id']}"
        for token in (people.agent2_token, people.requester_token):
            answer = await client.patch(url, json={"body": "x"}, headers=auth(token))
            assert answer.status_code == 403
            assert (await client.delete(url, headers=auth(token))).status_code == 403
        stranger = await client.delete(url, headers=auth(people.stranger_token))
        assert stranger.status_code == 404
        admin = await client.patch(
            url, json={"body": "moderated"}, headers=auth(people.admin_token)
        )
        assert admin.status_code == 200

    async def test_delete_keeps_the_place_and_audits_the_body(
        self, client: httpx.AsyncClient, people: People, session: AsyncSession
    ) -> None:
        posted = (await _post(client, people, people.requester_token, "oops, my password")).json()
        url = f"/api/v1/messages/{posted['id']}"
        assert (await client.delete(url, headers=auth(people.requester_token))).status_code == 204
        listed = (await client.get(people.url, headers=auth(people.agent_token))).json()["items"]
        assert listed[0]["id"] == posted["id"]
        assert (listed[0]["body"], listed[0]["html"]) == ("", "")
        assert listed[0]["deleted_at"] is not None
        audit = (await session.execute(select(ChatMessageAudit))).scalars().one()
        assert (audit.action, audit.old_body) == ("delete", "oops, my password")
        again = await client.patch(url, json={"body": "x"}, headers=auth(people.requester_token))
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "message_deleted"


class TestReadState:
    async def test_the_marker_only_moves_forward(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        one = (await _post(client, people, people.agent_token, "one")).json()["id"]
        two = (await _post(client, people, people.agent_token, "two")).json()["id"]
        url = f"/api/v1/tickets/{people.ticket.id}/read"
        headers = auth(people.requester_token)
        answer = await client.post(url, json={"message_id": two}, headers=headers)
        assert answer.json() == {
            "ticket_id": people.ticket.id,
            "user_id": people.requester.id,
            "last_read_message_id": two,
        }
        back = await client.post(url, json={"message_id": one}, headers=headers)
        assert back.json()["last_read_message_id"] == two

    async def test_internal_or_foreign_messages_cannot_be_marked_by_end_users(
        self, client: httpx.AsyncClient, people: People, session: AsyncSession
    ) -> None:
        note = await _post(client, people, people.agent_token, "n", visibility="internal")
        other = await create_ticket(session)
        await session.commit()
        elsewhere = await client.post(
            f"/api/v1/tickets/{other.id}/messages",
            json={"body": "elsewhere"},
            headers=auth(people.agent_token),
        )
        url = f"/api/v1/tickets/{people.ticket.id}/read"
        for message_id in (note.json()["id"], elsewhere.json()["id"]):
            answer = await client.post(
                url, json={"message_id": message_id}, headers=auth(people.requester_token)
            )
            assert answer.status_code == 404
