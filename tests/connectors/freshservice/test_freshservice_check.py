"""`check()`: a clear refusal for each way a configuration fails (contracts/freshservice/
README.md § 0 auth and domains, § 6 rate limits; 403 and the workspace lookup ASSUMED)."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import ConfigError, Health
from tests.connectors.freshservice.fake import IT, URL, FakeFreshservice, make_connector

IDENTITY = f"freshservice:{URL}:workspace:{IT}"


def flags(health: Health) -> tuple[bool, bool, bool]:
    return health.reachable, health.authenticated, health.permissions_ok


class TestHealthy:
    async def test_with_a_workspace(self) -> None:
        health = await make_connector(FakeFreshservice()).check()
        assert health.ok, health.detail
        assert health.remote_identity == IDENTITY
        assert "workspace 'IT' (2) OK" in health.detail

    async def test_identity_is_canonical(self) -> None:
        connector = make_connector(FakeFreshservice(), url="HTTPS://Its-Fine.freshservice.com/a/")
        assert (await connector.check()).remote_identity == IDENTITY

    async def test_without_a_workspace_every_workspace(self) -> None:
        health = await make_connector(FakeFreshservice(), workspace_id="").check()
        assert (health.ok, health.remote_identity) == (True, f"freshservice:{URL}:all")

    async def test_the_key_is_sent_as_basic_key_and_x(self) -> None:
        fake = FakeFreshservice()
        await make_connector(fake).check()
        assert fake.requests[0].headers["Authorization"] == (
            "Basic " + "V3E4SHEydVhmajNiVGs5TG00TnA6WA=="  # base64("Wq8Hq2uXfj3bTk9Lm4Np:X")
        )


class TestRefused:
    async def test_a_rejected_key(self) -> None:
        health = await make_connector(FakeFreshservice(), "not-the-key").check()
        assert flags(health) == (True, False, False)
        assert "rejected the API key (401" in health.detail
        assert "not-the-key" not in health.detail

    async def test_a_role_without_tickets(self) -> None:
        health = await make_connector(FakeFreshservice(), "no-ticket-role-key").check()
        assert flags(health) == (True, True, False)
        assert "403" in health.detail
        assert "role that may view, reply to and add notes on tickets" in health.detail

    async def test_an_unknown_workspace(self) -> None:
        health = await make_connector(FakeFreshservice(), workspace_id="42").check()
        assert flags(health) == (True, True, False)
        assert "no workspace 42 (workspace_id)" in health.detail

    async def test_unreachable(self) -> None:
        fake = FakeFreshservice()
        fake.faults["/api/v2/tickets"] = httpx.ConnectError("refused")
        health = await make_connector(fake).check()
        assert flags(health) == (False, False, False)
        assert "cannot reach Freshservice at https://its-fine.freshservice.com" in health.detail

    async def test_not_freshservice(self) -> None:
        fake = FakeFreshservice()
        fake.faults["/api/v2/tickets"] = httpx.Response(200, text="<html>Welcome</html>")
        health = await make_connector(fake).check()
        assert flags(health) == (True, False, False)
        assert "did not answer with Freshservice API JSON" in health.detail

    async def test_rate_limited(self) -> None:
        fake = FakeFreshservice()
        fake.throttled = 1
        health = await make_connector(fake).check()
        assert flags(health) == (True, False, False)
        assert "try the check again in 37 s" in health.detail

    @pytest.mark.parametrize(
        ("settings", "words"),
        [({"workspace_id": "IT"}, "workspace_id"), ({"poll_interval": "-1"}, "poll_interval")],
    )
    def test_invalid_settings(self, settings: dict[str, str], words: str) -> None:
        with pytest.raises(ConfigError, match=words):
            make_connector(FakeFreshservice(), extra=settings)

    def test_a_key_with_a_colon(self) -> None:
        with pytest.raises(ConfigError, match="api_key"):
            make_connector(FakeFreshservice(), "abc:def")
