"""Saved replies over HTTP: staff only, personal vs shared, placeholders, validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, Ticket, User
from tests.factories import auth, create_ticket, create_user

URL = "/api/v1/saved-replies"


@dataclass
class Desk:
    alex: User  # an agent
    alex_token: str
    bo_token: str  # another agent
    admin_token: str
    requester_token: str
    ticket: Ticket


@pytest.fixture
async def desk(session: AsyncSession) -> Desk:
    alex, alex_token = await create_user(session, role=Role.AGENT, name="Alex Agent")
    _, bo_token = await create_user(session, role=Role.AGENT, name="Bo Agent")
    _, admin_token = await create_user(session, role=Role.ADMIN, name="Ada Admin")
    requester, requester_token = await create_user(session, name="Erin O'Neill")
    ticket = await create_ticket(session, requester=requester, title="VPN drops")
    await session.commit()
    return Desk(alex, alex_token, bo_token, admin_token, requester_token, ticket)


async def _create(
    client: httpx.AsyncClient, token: str, title: str, body: str = "Hello", **extra: Any
) -> httpx.Response:
    return await client.post(URL, json={"title": title, "body": body, **extra}, headers=auth(token))


async def _titles(client: httpx.AsyncClient, token: str, **params: Any) -> list[str]:
    answer = await client.get(URL, params=params, headers=auth(token))
    assert answer.status_code == 200, answer.text
    return [item["title"] for item in answer.json()["items"]]


class TestWhoSeesWhat:
    async def test_personal_replies_are_their_owners_and_shared_ones_everyones(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        mine = await _create(client, desk.alex_token, "Alex only")
        shared = await _create(client, desk.alex_token, "Greeting", shared=True)
        await _create(client, desk.bo_token, "Bo only")
        assert (mine.status_code, shared.status_code) == (201, 201)
        assert shared.json()["owner"] == {"id": desk.alex.id, "name": "Alex Agent"}
        assert shared.json()["editable"] is True

        assert await _titles(client, desk.alex_token) == ["Alex only", "Greeting"]
        assert await _titles(client, desk.bo_token) == ["Greeting", "Bo only"]
        # an admin too sees shared replies and their own, never someone's personal ones
        assert await _titles(client, desk.admin_token) == ["Greeting"]
        assert await _titles(client, desk.alex_token, shared="true") == ["Greeting"]
        assert await _titles(client, desk.alex_token, shared="false") == ["Alex only"]

        theirs = await client.get(f"{URL}/{mine.json()['id']}", headers=auth(desk.bo_token))
        missing = await client.get(f"{URL}/987654321", headers=auth(desk.bo_token))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() == missing.json()
        seen = await client.get(f"{URL}/{shared.json()['id']}", headers=auth(desk.bo_token))
        assert seen.status_code == 200
        assert seen.json()["editable"] is False

    async def test_end_users_get_no_saved_replies_at_all(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        shared = await _create(client, desk.alex_token, "Greeting", shared=True)
        reply_url = f"{URL}/{shared.json()['id']}"
        answers = [
            await client.get(URL, headers=auth(desk.requester_token)),
            await client.get(reply_url, headers=auth(desk.requester_token)),
            await client.get(
                f"{reply_url}/render",
                params={"ticket_id": desk.ticket.id},
                headers=auth(desk.requester_token),
            ),
            await _create(client, desk.requester_token, "Mine"),
            await client.patch(reply_url, json={"body": "x"}, headers=auth(desk.requester_token)),
            await client.delete(reply_url, headers=auth(desk.requester_token)),
        ]
        assert [a.status_code for a in answers] == [403] * 6
        assert {a.json()["error"]["code"] for a in answers} == {"forbidden"}
        assert (await client.get(URL)).status_code == 401

    async def test_pages_in_id_order(self, client: httpx.AsyncClient, desk: Desk) -> None:
        ids = [(await _create(client, desk.alex_token, f"R{n}")).json()["id"] for n in range(3)]
        first = await client.get(URL, params={"limit": 2}, headers=auth(desk.alex_token))
        assert [i["id"] for i in first.json()["items"]] == ids[:2]
        assert first.json()["next_after"] == ids[1]
        rest = await client.get(
            URL, params={"after": ids[1], "limit": 2}, headers=auth(desk.alex_token)
        )
        assert [i["id"] for i in rest.json()["items"]] == ids[2:]
        assert rest.json()["next_after"] is None


class TestChanges:
    async def test_a_shared_reply_is_changed_by_its_author_or_an_admin_only(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        shared = (await _create(client, desk.alex_token, "Greeting", shared=True)).json()
        url = f"{URL}/{shared['id']}"
        refused = await client.patch(url, json={"body": "Bo was here"}, headers=auth(desk.bo_token))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not_reply_author"
        gone = await client.delete(url, headers=auth(desk.bo_token))
        assert gone.status_code == 403

        by_author = await client.patch(
            url, json={"body": "Hello there"}, headers=auth(desk.alex_token)
        )
        assert by_author.status_code == 200
        assert by_author.json()["body"] == "Hello there"
        by_admin = await client.patch(
            url, json={"title": "Greeting (formal)"}, headers=auth(desk.admin_token)
        )
        assert by_admin.status_code == 200
        assert by_admin.json()["title"] == "Greeting (formal)"
        assert by_admin.json()["owner"]["id"] == desk.alex.id  # still Alex's
        assert by_admin.json()["editable"] is True
        assert (await client.get(url, headers=auth(desk.bo_token))).json()["body"] == (
            "Hello there"
        )
        assert (await client.delete(url, headers=auth(desk.admin_token))).status_code == 204
        assert (await client.get(url, headers=auth(desk.alex_token))).status_code == 404

    async def test_a_personal_reply_is_its_owners_alone_even_for_an_admin(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        mine = (await _create(client, desk.alex_token, "Mine")).json()
        url = f"{URL}/{mine['id']}"
        for token in (desk.admin_token, desk.bo_token):
            assert (
                await client.patch(url, json={"body": "x"}, headers=auth(token))
            ).status_code == 404
            assert (await client.delete(url, headers=auth(token))).status_code == 404
        # sharing it makes it everyone's to read
        shared = await client.patch(url, json={"shared": True}, headers=auth(desk.alex_token))
        assert shared.json()["shared"] is True
        assert (await client.get(url, headers=auth(desk.bo_token))).status_code == 200
        assert (await client.delete(url, headers=auth(desk.alex_token))).status_code == 204


class TestValidation:
    async def test_an_unknown_placeholder_is_refused_on_save(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        answer = await _create(
            client, desk.alex_token, "Typo", "Hi {{requester.firstname}}, {{ ticket.number }}"
        )
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert set(error) == {"code", "message", "details"}
        assert error["code"] == "unknown_placeholder"
        assert "{{requester.firstname}}" in error["message"]
        assert "{{requester.first_name}}" in error["message"]  # says what would work
        assert error["details"][0]["field"] == "body"
        assert error["details"][0]["placeholder"] == "requester.firstname"
        assert await _titles(client, desk.alex_token) == []

        fine = (await _create(client, desk.alex_token, "Fine", "Hi")).json()
        edit = await client.patch(
            f"{URL}/{fine['id']}", json={"body": "{{agent.name}}"}, headers=auth(desk.alex_token)
        )
        assert edit.status_code == 422
        assert edit.json()["error"]["code"] == "unknown_placeholder"

    async def test_titles_are_unique_per_owner(self, client: httpx.AsyncClient, desk: Desk) -> None:
        first = await _create(client, desk.alex_token, "Greeting")
        again = await _create(client, desk.alex_token, "  Greeting ", shared=True)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "title_taken"
        # someone else may use the same title
        assert (await _create(client, desk.bo_token, "Greeting")).status_code == 201
        other = await _create(client, desk.alex_token, "Other")
        renamed = await client.patch(
            f"{URL}/{other.json()['id']}", json={"title": "Greeting"}, headers=auth(desk.alex_token)
        )
        assert renamed.status_code == 409
        same = await client.patch(
            f"{URL}/{first.json()['id']}", json={"title": "Greeting"}, headers=auth(desk.alex_token)
        )
        assert same.status_code == 200

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("title", ""),
            ("title", "   "),
            ("title", "x" * 101),
            ("title", "two\nlines"),
            ("body", ""),
            ("body", "x" * 5001),
            ("body", "nul\x00byte"),
        ],
    )
    async def test_lengths_and_characters_are_bounded(
        self, client: httpx.AsyncClient, desk: Desk, field: str, value: str
    ) -> None:
        data = {"title": "T", "body": "B", field: value}
        answer = await client.post(URL, json=data, headers=auth(desk.alex_token))
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_input"
        assert answer.json()["error"]["details"][0]["field"] == field

    async def test_a_blank_body_and_unknown_fields_are_refused(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        blank = await _create(client, desk.alex_token, "Blank", "  \n ")
        assert blank.json()["error"]["code"] == "empty_body"
        extra = await _create(client, desk.alex_token, "Extra", owner_user_id=1)
        assert extra.status_code == 422

    async def test_the_longest_title_and_body_fit(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        answer = await _create(client, desk.alex_token, "t" * 100, "b" * 5000)
        assert answer.status_code == 201
        assert len(answer.json()["body"]) == 5000


class TestRender:
    async def test_placeholders_are_filled_in_for_the_ticket_and_the_agent(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        body = (
            "Hi {{requester.first_name}}, I am looking at {{ticket.number}} "
            "({{ticket.title}}) for {{requester.name}}. {{agent.first_name}}"
        )
        shared = (await _create(client, desk.alex_token, "Greeting", body, shared=True)).json()
        # Bo renders Alex's shared reply: the agent is whoever inserts it
        answer = await client.get(
            f"{URL}/{shared['id']}/render",
            params={"ticket_id": desk.ticket.id},
            headers=auth(desk.bo_token),
        )
        assert answer.status_code == 200
        assert answer.json() == {
            "id": shared["id"],
            "ticket_id": desk.ticket.id,
            "title": "Greeting",
            "body": f"Hi Erin, I am looking at {desk.ticket.external_id} (VPN drops) for "
            "Erin O'Neill. Bo",
            "missing": [],
        }

    async def test_a_ticket_without_a_known_requester_reports_what_is_missing(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        orphan = await create_ticket(session, title="Nobody's")
        await session.commit()
        reply = (
            await _create(client, desk.alex_token, "Hi", "Hi {{requester.first_name}},")
        ).json()
        answer = await client.get(
            f"{URL}/{reply['id']}/render",
            params={"ticket_id": orphan.id},
            headers=auth(desk.alex_token),
        )
        assert answer.json()["body"] == "Hi ,"
        assert answer.json()["missing"] == ["requester.first_name"]

    async def test_the_ticket_name_from_the_ticketing_system_comes_first(
        self, client: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        ticket = await session.get(Ticket, desk.ticket.id)
        assert ticket is not None
        ticket.requester_name = "Doe, Jane"
        await session.commit()
        reply = (await _create(client, desk.alex_token, "Hi", "Hi {{requester.first_name}}")).json()
        answer = await client.get(
            f"{URL}/{reply['id']}/render",
            params={"ticket_id": desk.ticket.id},
            headers=auth(desk.alex_token),
        )
        assert answer.json()["body"] == "Hi Jane"

    async def test_someone_elses_personal_reply_or_a_missing_ticket_is_not_found(
        self, client: httpx.AsyncClient, desk: Desk
    ) -> None:
        mine = (await _create(client, desk.alex_token, "Mine")).json()
        theirs = await client.get(
            f"{URL}/{mine['id']}/render",
            params={"ticket_id": desk.ticket.id},
            headers=auth(desk.bo_token),
        )
        assert theirs.status_code == 404
        no_ticket = await client.get(
            f"{URL}/{mine['id']}/render",
            params={"ticket_id": 987654321},
            headers=auth(desk.alex_token),
        )
        assert no_ticket.status_code == 404
        assert no_ticket.json()["error"]["message"] == "ticket not found"
        no_param = await client.get(f"{URL}/{mine['id']}/render", headers=auth(desk.alex_token))
        assert no_param.status_code == 422
