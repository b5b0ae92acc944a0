"""SOCIALDESK_SECRET_KEY: weak keys are refused, and keys rotate without losing anything."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.clock import utcnow
from app.kit.secrets import SecretBox
from app.kit.signing import BadToken, Signer
from app.models import ConnectorInstance
from tests.factories import create_connector
from tests.test_cli import _env, _run

OLD = "old-key-Hq3vX9zL0pW2mN8bR5tY7uI1oA4sD6fG"
NEW = "new-key-Zx8cV6bN4mQ2wE0rT9yU7iO5pA3sD1fH"


@pytest.mark.parametrize(
    "key",
    ["short-key", "change-me-to-a-long-random-string", "a" * 64, f"{NEW},tooshort"],
    ids=["short", "the compose example", "one repeated character", "a weak key in the ring"],
)
def test_a_weak_or_example_key_is_refused(key: str) -> None:
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        Settings(secret_key=SecretStr(key)).require_secret_key()


def test_serve_and_worker_refuse_a_weak_key_in_one_line(settings: Settings) -> None:
    env = _env(
        settings,
        SOCIALDESK_SECRET_KEY="change-me-to-a-long-random-string",
        SOCIALDESK_REDIS_URL="redis://127.0.0.1:6379/0",
    )
    for command in (["serve", "--port", "1"], ["worker"]):
        result = _run(command, env)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "SOCIALDESK_SECRET_KEY" in result.stderr


def test_secrets_sealed_with_the_old_key_open_while_it_is_in_the_ring() -> None:
    sealed = SecretBox(OLD).seal({"password": "hunter2"})
    ring = SecretBox(f"{NEW},{OLD}")
    assert ring.open(sealed) == {"password": "hunter2"}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(NEW).open(sealed)
    assert SecretBox(NEW).open(ring.reseal(sealed)) == {"password": "hunter2"}
    # New secrets are sealed with the newest key.
    assert SecretBox(NEW).open(ring.seal({"a": "b"})) == {"a": "b"}


def test_links_signed_with_the_old_key_keep_working_in_the_ring() -> None:
    now = utcnow()
    old_link = Signer(OLD, "unsubscribe").sign({"u": 1}, now=now, ttl=timedelta(days=1))
    ring = Signer(f"{NEW} {OLD}", "unsubscribe")
    assert ring.verify(old_link, now=now)["u"] == 1
    new_link = ring.sign({"u": 2}, now=now, ttl=timedelta(days=1))
    assert Signer(NEW, "unsubscribe").verify(new_link, now=now)["u"] == 2
    with pytest.raises(BadToken):
        Signer(OLD, "unsubscribe").verify(new_link, now=now)


async def test_keys_reseal_moves_stored_secrets_to_the_newest_key(
    settings: Settings, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_db() as session:
        instance = await create_connector(session, kind="redmine", secrets={"api_key": "k"})
        instance.secrets_sealed = SecretBox(OLD).seal({"api_key": "k"})
        await session.commit()
    result = _run(["keys", "reseal"], _env(settings, SOCIALDESK_SECRET_KEY=f"{NEW},{OLD}"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["connectors"] == 1
    async with committed_db() as session:
        row = await session.get(ConnectorInstance, instance.id)
        assert row is not None
        assert SecretBox(NEW).open(row.secrets_sealed) == {"api_key": "k"}
    # A secret no key of the ring opens is reported, not silently skipped.
    gone = _run(["keys", "reseal"], _env(settings, SOCIALDESK_SECRET_KEY=OLD))
    assert gone.returncode == 2
    assert "put the key they were sealed with back" in gone.stderr
