from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role
from tests.factories import auth, create_user


class TestMe:
    async def test_no_token_is_401_in_the_error_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert set(response.json()["error"]) == {"code", "message", "details"}

    async def test_wrong_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/me", headers=auth("sd_not-a-real-token"))
        assert response.status_code == 401

    async def test_token_identifies_the_user(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, token = await create_user(session, role=Role.AGENT, name="Alex Agent")
        await session.commit()
        response = await client.get("/api/v1/me", headers=auth(token))
        assert response.status_code == 200
        assert response.json()["email"] == user.email
        assert response.json()["role"] == "agent"
        assert "password_hash" not in response.json()


class TestCreateUser:
    async def test_admin_creates_a_user_whose_token_works(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await create_user(session, role=Role.ADMIN)
        await session.commit()
        response = await client.post(
            "/api/v1/users",
            json={"email": "New.Person@Example.com", "name": "New Person", "role": "end_user"},
            headers=auth(admin),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == "new.person@example.com"
        me = await client.get("/api/v1/me", headers=auth(body["token"]))
        assert me.json()["id"] == body["id"]

    async def test_agents_and_end_users_are_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, agent = await create_user(session, role=Role.AGENT)
        _, end_user = await create_user(session, role=Role.END_USER)
        await session.commit()
        payload = {"email": "x@example.com", "name": "X", "role": "admin"}
        for token in (agent, end_user):
            response = await client.post("/api/v1/users", json=payload, headers=auth(token))
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "forbidden"

    async def test_invalid_input_names_the_fields(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await create_user(session, role=Role.ADMIN)
        await session.commit()
        response = await client.post(
            "/api/v1/users",
            json={"email": "not-an-email", "role": "superuser", "nickname": "x"},
            headers=auth(admin),
        )
        assert response.status_code == 422
        fields = {d["field"] for d in response.json()["error"]["details"]}
        assert {"email", "role", "name", "nickname"} <= fields

    async def test_malformed_json_is_422(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, admin = await create_user(session, role=Role.ADMIN)
        await session.commit()
        response = await client.post(
            "/api/v1/users",
            content=b'{"email": ',
            headers={**auth(admin), "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"

    async def test_duplicate_email_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user, admin = await create_user(session, role=Role.ADMIN)
        await session.commit()
        response = await client.post(
            "/api/v1/users",
            json={"email": user.email.upper(), "name": "Again", "role": "agent"},
            headers=auth(admin),
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "user_exists"
