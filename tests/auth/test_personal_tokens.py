"""A person's own API tokens: named, expiring, shown once, stored hashed, revocable."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import sessions
from app.kit.clock import utcnow
from app.kit.secrets import hash_token
from app.models import ApiToken, Role
from tests.factories import auth, create_user


async def test_a_token_is_shown_once_works_and_stops_when_revoked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, login = await create_user(session, role=Role.AGENT)
    made = await client.post(
        "/api/v1/me/tokens", json={"name": "nightly report", "expires_in_days": 30},
        headers=auth(login),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["id"]
    assert made.json()["expires_at"] is not None
    stored = await session.get(ApiToken, token_id)
    assert stored is not None
    assert stored.token_hash == hash_token(secret)  # only the hash is kept
    assert secret not in stored.token_hash

    me = await client.get("/api/v1/me", headers=auth(secret))
    assert me.json()["id"] == user.id
    listed = (await client.get("/api/v1/me/tokens", headers=auth(login))).json()["items"]
    assert [t["name"] for t in listed] == ["nightly report", "default"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert listed[0]["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/me/tokens/{token_id}", headers=auth(login))
    assert revoked.status_code == 204
    refused = await client.get("/api/v1/me", headers=auth(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, login = await create_user(session)
    made = await client.post(
        "/api/v1/me/tokens", json={"name": "short", "expires_in_days": 1}, headers=auth(login)
    )
    secret = made.json()["token"]
    row = await session.get(ApiToken, made.json()["id"])
    assert row is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    await session.flush()
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 401


async def test_nobody_revokes_or_lists_another_persons_tokens(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, owner_login = await create_user(session)
    _, admin = await create_user(session, role=Role.ADMIN)
    theirs = await session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    gone = await client.delete(f"/api/v1/me/tokens/{theirs}", headers=auth(admin))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "token_not_found"
    assert (await client.get("/api/v1/me", headers=auth(owner_login))).status_code == 200
    mine = (await client.get("/api/v1/me/tokens", headers=auth(admin))).json()["items"]
    assert theirs not in [t["id"] for t in mine]


async def test_bad_input_is_a_clear_422(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, login = await create_user(session)
    bodies = [{"name": ""}, {"name": "x", "expires_in_days": 0},
              {"name": "x", "expires_in_days": 10_000}, {"name": "a\nb"}, {"nam": "x"}]  # fmt: skip
    for body in bodies:
        answer = await client.post("/api/v1/me/tokens", json=body, headers=auth(login))
        assert answer.status_code == 422, body
        assert answer.json()["error"]["code"] == "invalid_input"
    unlimited = await client.post(
        "/api/v1/me/tokens", json={"name": "ci", "expires_in_days": None}, headers=auth(login)
    )
    assert unlimited.status_code == 201
    assert unlimited.json()["expires_at"] is None


async def test_the_tokens_page_creates_shows_once_and_revokes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user, _ = await create_user(session, role=Role.AGENT)
    cookie, row = await sessions.do_start_session(session, user=user)
    client.cookies.set(sessions.COOKIE, cookie)
    forged = await client.post("/tokens", data={"csrf": "forged", "name": "x"})
    assert forged.status_code == 422
    created = await client.post(
        "/tokens", data={"csrf": row.csrf_token, "name": "my laptop", "expires_in_days": "30"}
    )
    assert created.status_code == 201
    found = re.search(r'<code id="new-token">([^<]+)</code>', created.text)
    assert found is not None
    secret = found[1]
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 200
    again = await client.get("/tokens")
    assert secret not in again.text  # shown once
    assert "my laptop" in again.text
    token_id = await session.scalar(select(ApiToken.id).where(ApiToken.name == "my laptop"))
    revoked = await client.post(f"/tokens/{token_id}/revoke", data={"csrf": row.csrf_token})
    assert revoked.status_code == 303
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 401
    bad = await client.post("/tokens", data={"csrf": row.csrf_token, "name": ""})
    assert bad.status_code == 422
    assert "name" in bad.text
