"""Sign-in as an attacker would try it: hashes, timing, guessing, mail bombs, socket auth."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.auth.service import authenticate_password
from app.kit.attempts import (
    SIGN_IN_PER_ACCOUNT,
    SOCKET_AUTH_PER_ADDRESS,
    SUBSCRIBE_PER_EMAIL,
    Allowance,
    AttemptLimits,
    TooManyAttempts,
)
from app.kit.secrets import hash_password, verify_password
from app.models import Role
from tests.factories import auth, create_user
from tests.test_cli import REDIS_URL

if TYPE_CHECKING:  # the plugin module is imported by pytest_plugins, assertions rewritten
    from tests.chat.live import ChatServer

pytest_plugins = ["tests.chat.live"]
PASSWORD = "correct horse battery"


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found is not None
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf": found[1]}
    )


def test_passwords_are_argon2id_and_old_scrypt_hashes_still_verify() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert verify_password(PASSWORD, stored).ok
    assert not verify_password("wrong", stored).ok
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, dklen=32, n=2**14, r=8, p=1)
    old = f"scrypt${salt.hex()}${digest.hex()}"
    assert verify_password(PASSWORD, old).ok
    assert verify_password(PASSWORD, old).needs_rehash
    assert not verify_password("wrong", old).ok


async def test_signing_in_with_an_old_hash_replaces_it(session: AsyncSession) -> None:
    user, _ = await create_user(session, password=PASSWORD)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, dklen=32, n=2**14, r=8, p=1)
    user.password_hash = f"scrypt${salt.hex()}${digest.hex()}"
    assert await authenticate_password(session, user.email, PASSWORD) is user
    assert user.password_hash.startswith("$argon2id$")
    assert await authenticate_password(session, user.email, PASSWORD) is user


async def test_an_unknown_email_takes_as_long_as_a_wrong_password(session: AsyncSession) -> None:
    user, _ = await create_user(session, password=PASSWORD)

    async def seconds(email: str) -> float:
        started = time.perf_counter()
        assert await authenticate_password(session, email, "not it") is None
        return time.perf_counter() - started

    # Interleaved, and the fastest of each: other processes on a busy machine slow single
    # tries down, never speed one up, so the minimums compare the work itself.
    known_tries, unknown_tries = [], []
    for _ in range(5):
        known_tries.append(await seconds(user.email))
        unknown_tries.append(await seconds("nobody@example.net"))
    known, unknown = min(known_tries), min(unknown_tries)
    # Without the stand-in hash an unknown e-mail answers in a database round trip.
    assert 0.5 < unknown / known < 2, (known, unknown)


async def test_guessing_one_accounts_password_is_stopped_with_retry_after(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    victim, _ = await create_user(session, password=PASSWORD)
    bystander, _ = await create_user(session, password=PASSWORD)
    await session.commit()
    for _ in range(SIGN_IN_PER_ACCOUNT.attempts):
        assert (await _sign_in(client, victim.email, "guess")).status_code == 401
    refused = await _sign_in(client, victim.email, PASSWORD)  # even the right one, for now
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "Too many attempts" in refused.text
    # The same address may still sign in to another account.
    assert (await _sign_in(client, bystander.email, PASSWORD)).status_code == 303


async def test_the_subscribe_form_cannot_be_used_to_mail_bomb_an_address(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, admin = await create_user(session, role=Role.ADMIN)
    await session.commit()
    created = await client.post(
        "/api/v1/services",
        headers=auth(admin),
        json={"slug": "bomb-test", "name": "Mail", "visibility": "public"},
    )
    assert created.status_code == 201, created.text
    body = {"email": "victim@example.org", "services": ["bomb-test"]}
    for _ in range(SUBSCRIBE_PER_EMAIL.attempts):
        assert (await client.post("/status/subscribe", json=body)).status_code == 202
    refused = await client.post("/status/subscribe", json=body)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    other = {"email": "someone.else@example.org", "services": ["bomb-test"]}
    assert (await client.post("/status/subscribe", json=other)).status_code == 202


async def test_guessing_tokens_on_the_live_connection_is_stopped(chat_server: ChatServer) -> None:
    url = chat_server.url.replace("http", "ws", 1) + "/ws?token=sd_guess"
    for _ in range(SOCKET_AUTH_PER_ADDRESS.attempts):
        async with connect(url) as socket:
            with pytest.raises(ConnectionClosed) as refused:
                await socket.recv()
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == 1008
    async with connect(url) as socket:
        with pytest.raises(ConnectionClosed) as limited:
            await socket.recv()
    assert limited.value.rcvd is not None
    assert limited.value.rcvd.code == 1013
    assert "too many" in limited.value.rcvd.reason


async def test_replicas_share_the_counts_through_redis() -> None:
    allowance = Allowance("test attempts", 3, 60)
    subject = f"replicas-{secrets.token_hex(4)}"
    first, second = AttemptLimits(REDIS_URL), AttemptLimits(REDIS_URL)
    try:
        await first.record(allowance, subject)
        await second.record(allowance, subject)
        await first.record(allowance, subject)
        with pytest.raises(TooManyAttempts) as refused:
            await second.check(allowance, subject)
        assert 0 < refused.value.retry_after <= 60
        await second.clear(allowance, subject)
        await first.check(allowance, subject)
    finally:
        await first.close()
        await second.close()
