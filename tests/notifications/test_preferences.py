"""`GET, PUT /api/v1/me/preferences`: validated, secrets sealed and never returned."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NotificationDestination, Role
from tests.factories import auth, create_user

HOOK = {"url": "https://hooks.example.org/socialdesk/T0KEN-IN-PATH", "secret": "s" * 24}
SLACK = "slack://TokenA/TokenB/TokenC/#general"


async def _put(client: httpx.AsyncClient, token: str, body: Mapping[str, object]) -> httpx.Response:
    return await client.put("/api/v1/me/preferences", json=body, headers=auth(token))


class TestDefaultsAndValidation:
    async def test_defaults_in_app_and_email_immediately(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        got = (await client.get("/api/v1/me/preferences", headers=auth(token))).json()
        assert got == {
            "in_app": True, "email": True, "timezone": "UTC", "quiet_hours": None,
            "digest": "immediate", "apprise": [], "webhook": None,
        }  # fmt: skip

    @pytest.mark.parametrize(
        ("quiet", "field"),
        [
            ({"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}, "timezone"),
            ({"start": "25:00", "end": "07:00", "timezone": "UTC"}, "start"),
            ({"start": "22:00", "end": "7", "timezone": "UTC"}, "end"),
            ({"start": "22:00", "end": "22:00", "timezone": "UTC"}, "quiet_hours"),
        ],
    )
    async def test_quiet_hours_are_validated(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        quiet: dict[str, str],
        field: str,
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        bad = await _put(client, token, {"quiet_hours": quiet})
        assert bad.status_code == 422
        assert any(field in d["field"] for d in bad.json()["error"]["details"])

    async def test_quiet_hours_digest_and_email_round_trip_and_clear(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        quiet = {"start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}
        put = await _put(client, token, {"quiet_hours": quiet, "digest": "daily", "email": False})
        assert put.json()["quiet_hours"] == quiet
        assert put.json()["digest"] == "daily"
        assert put.json()["email"] is False
        kept = await _put(client, token, {"digest": "hourly"})  # omitted fields stay
        assert kept.json()["quiet_hours"] == quiet
        assert kept.json()["email"] is False
        cleared = await _put(client, token, {"quiet_hours": None})
        assert cleared.json()["quiet_hours"] is None
        assert cleared.json()["digest"] == "hourly"

    async def test_an_unknown_apprise_url_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        bad = await _put(client, token, {"apprise": [{"url": "nosuchservice://x"}]})
        assert bad.status_code == 422


class TestSecrets:
    async def test_urls_and_secrets_are_sealed_and_only_masked_ones_come_back(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        put = await _put(
            client, token, {"webhook": HOOK, "apprise": [{"url": SLACK, "label": "team"}]}
        )
        assert put.status_code == 200, put.text
        text = put.text + (await client.get("/api/v1/me/preferences", headers=auth(token))).text
        for secret in ("T0KEN-IN-PATH", "s" * 24, "TokenB", "TokenC"):
            assert secret not in text
        assert put.json()["webhook"]["url"] == "https://hooks.example.org/..."
        assert put.json()["webhook"]["has_secret"] is True
        assert put.json()["apprise"][0]["url"].startswith("slack://")
        stored = (await session.execute(select(NotificationDestination))).scalars().all()
        for dest in stored:
            assert "TokenB" not in dest.secrets_sealed
            assert "T0KEN" not in dest.secrets_sealed

    async def test_a_stored_destination_keeps_its_secret_when_only_flags_change(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        first = await _put(client, token, {"webhook": HOOK, "apprise": [{"url": SLACK}]})
        apprise_id = first.json()["apprise"][0]["id"]
        again = await _put(
            client, token,
            {"webhook": {"label": "ops"}, "apprise": [{"id": apprise_id, "label": "x"}]},
        )  # fmt: skip
        assert again.status_code == 200
        assert again.json()["webhook"]["label"] == "ops"
        assert again.json()["apprise"][0]["id"] == apprise_id
        dropped = await _put(client, token, {"apprise": [], "webhook": None})
        assert dropped.json()["apprise"] == []
        assert dropped.json()["webhook"] is None

    async def test_a_new_webhook_needs_url_and_secret(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, token = await create_user(session)
        await session.commit()
        assert (await _put(client, token, {"webhook": {"url": HOOK["url"]}})).status_code == 422
        not_http = {"url": "file:///etc/passwd", "secret": "s" * 24}
        assert (await _put(client, token, {"webhook": not_http})).status_code == 422


class TestInternalDestinations:
    async def test_only_staff_may_mark_a_destination_internal(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, erin_token = await create_user(session)
        _, agent_token = await create_user(session, role=Role.AGENT)
        await session.commit()
        internal = {"apprise": [{"url": SLACK, "internal": True}]}
        refused = await _put(client, erin_token, internal)
        assert refused.status_code == 403
        hook = await _put(client, erin_token, {"webhook": {**HOOK, "internal": True}})
        assert hook.status_code == 403
        allowed = await _put(client, agent_token, internal)
        assert allowed.status_code == 200
        assert allowed.json()["apprise"][0]["internal"] is True
