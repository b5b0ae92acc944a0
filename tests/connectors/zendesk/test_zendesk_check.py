"""`check()`: a clear refusal for each way a configuration fails (contracts/zendesk/README.md
§ 0 auth, § 1a "Allowed for: Admins", § 6 rate limits)."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import ConfigError, Health
from tests.connectors.zendesk.fake import SUPPORT, URL, FakeZendesk, make_connector

IDENTITY = f"zendesk:{URL}:group:{SUPPORT}"


def flags(health: Health) -> tuple[bool, bool, bool]:
    return health.reachable, health.authenticated, health.permissions_ok


class TestHealthy:
    async def test_admin_with_a_group(self) -> None:
        health = await make_connector(FakeZendesk()).check()
        assert health.ok, health.detail
        assert health.remote_identity == IDENTITY
        assert "group 'Support' (98738) OK" in health.detail

    async def test_identity_is_canonical(self) -> None:
        connector = make_connector(FakeZendesk(), url="HTTPS://ACME.zendesk.com/agent/tickets/1")
        assert (await connector.check()).remote_identity == IDENTITY

    async def test_without_a_group_every_group(self) -> None:
        health = await make_connector(FakeZendesk(), group_id="").check()
        assert (health.ok, health.remote_identity) == (True, f"zendesk:{URL}:all")

    async def test_the_probe_never_asks_for_the_last_minute(self) -> None:
        fake = FakeZendesk()
        await make_connector(fake).check()
        start = int(fake.requests[0].url.params["start_time"])
        assert start <= int(fake.now.timestamp()) - 60


class TestRefused:
    async def test_rejected_token(self) -> None:
        health = await make_connector(FakeZendesk(), token="nope-42").check()
        assert flags(health) == (True, False, False)
        assert "rejected the e-mail address and API token (401" in health.detail
        assert "nope-42" not in health.detail

    async def test_an_agent_is_told_the_admin_role_is_needed(self) -> None:
        health = await make_connector(
            FakeZendesk(), "alex.agent@acme.example", "agent-token-1"
        ).check()
        assert flags(health) == (True, True, False)
        assert "403" in health.detail
        assert "Admin role" in health.detail

    async def test_unknown_group(self) -> None:
        health = await make_connector(FakeZendesk(), group_id="4242").check()
        assert flags(health) == (True, True, False)
        assert "no group 4242" in health.detail

    async def test_unreachable(self) -> None:
        fake = FakeZendesk()
        fake.faults["/api/v2/incremental/tickets/cursor.json"] = httpx.ConnectError("refused")
        health = await make_connector(fake).check()
        assert flags(health) == (False, False, False)
        assert "cannot reach Zendesk at https://acme.zendesk.com (ConnectError)" in health.detail

    async def test_not_zendesk(self) -> None:
        fake = FakeZendesk()
        page = httpx.Response(200, text="<html>Welcome</html>")
        fake.faults["/api/v2/incremental/tickets/cursor.json"] = page
        health = await make_connector(fake).check()
        assert not health.ok
        assert "did not answer with Zendesk API JSON" in health.detail

    async def test_rate_limited(self) -> None:
        fake = FakeZendesk()
        fake.throttled = 1
        health = await make_connector(fake).check()
        assert not health.ok
        assert "try the check again in 93 s" in health.detail

    @pytest.mark.parametrize(
        ("settings", "words"),
        [
            ({"group_id": "support"}, "group_id"),
            ({"group_id": "-1"}, "group_id"),
        ],
    )
    def test_bad_settings_name_the_setting(self, settings: dict[str, str], words: str) -> None:
        with pytest.raises(ConfigError, match=words):
            make_connector(FakeZendesk(), extra=settings)

    def test_missing_secrets(self) -> None:
        with pytest.raises(ConfigError, match="api_token"):
            make_connector(FakeZendesk(), secrets={"email": "socialdesk@acme.example"})
