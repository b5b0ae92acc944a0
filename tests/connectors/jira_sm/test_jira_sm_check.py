"""`check()`: a clear refusal for each way a configuration fails (contracts/jira-sm/README.md
§ 0 auth, § 1a JQL, § 7 status codes; the service desk and permission lookups are ASSUMED)."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import ConfigError, Health
from tests.connectors.jira_sm.fake import DESK, FakeJira, make_connector

IDENTITY = f"jira_sm:https://acme.atlassian.net:servicedesk:{DESK}"


def flags(health: Health) -> tuple[bool, bool, bool]:
    return health.reachable, health.authenticated, health.permissions_ok


class TestHealthy:
    async def test_ok_and_identity(self) -> None:
        fake = FakeJira()
        fake.create("Printer jammed")
        health = await make_connector(fake).check()
        assert health.ok, health.detail
        assert health.remote_identity == IDENTITY
        assert "project ITSD, service desk 4 OK" in health.detail

    async def test_identity_is_canonical(self) -> None:
        connector = make_connector(FakeJira(), url="HTTPS://ACME.atlassian.net/jira/servicedesk")
        assert (await connector.check()).remote_identity == IDENTITY

    async def test_an_account_in_another_zone_gets_its_filter_in_that_zone(self) -> None:
        fake = FakeJira()
        fake.account("socialdesk").time_zone = "Australia/Sydney"
        fake.create("Printer jammed")
        assert (await make_connector(fake).check()).ok


class TestRefused:
    async def test_rejected_token(self) -> None:
        health = await make_connector(FakeJira(), token="wrong-77").check()
        assert flags(health) == (True, False, False)
        assert "rejected the credentials (401" in health.detail
        assert "wrong-77" not in health.detail

    async def test_missing_token_sends_nothing(self) -> None:
        fake = FakeJira()
        health = await make_connector(fake, token=None).check()
        assert not health.ok
        assert "the secret api_token is missing" in health.detail
        assert fake.requests == []

    async def test_missing_permission_is_named(self) -> None:
        fake = FakeJira()
        fake.account("socialdesk").permissions.discard("ADD_COMMENTS")
        health = await make_connector(fake).check()
        assert flags(health) == (True, True, False)
        assert "lacks the Jira permission 'Add Comments' (ADD_COMMENTS)" in health.detail

    async def test_forbidden_is_reported_with_jiras_words(self) -> None:
        fake = FakeJira()
        fake.faults["/rest/api/3/mypermissions"] = httpx.Response(
            403, json={"errorMessages": ["You are not allowed to do this."]}
        )
        health = await make_connector(fake).check()
        assert flags(health) == (True, True, False)
        assert "(403: You are not allowed to do this.)" in health.detail

    async def test_unreachable(self) -> None:
        fake = FakeJira()
        fake.faults["/rest/api/3/myself"] = httpx.ConnectError("refused")
        health = await make_connector(fake).check()
        assert not health.reachable
        assert "cannot reach Jira at https://acme.atlassian.net" in health.detail

    async def test_not_a_jira_site(self) -> None:
        fake = FakeJira()
        fake.faults["/rest/api/3/myself"] = httpx.Response(200, text="<html>Log in</html>")
        health = await make_connector(fake).check()
        assert not health.ok
        assert "did not answer with Jira's JSON" in health.detail

    async def test_service_desk_of_another_project(self) -> None:
        health = await make_connector(FakeJira(), service_desk_id="7").check()
        assert flags(health) == (True, True, False)
        assert "service desk 7 is project 'HR', not 'ITSD'" in health.detail

    async def test_unknown_project(self) -> None:
        fake = FakeJira()
        fake.desks["8"] = "GHOST"  # a desk Jira's JQL does not know the project of
        health = await make_connector(fake, project="GHOST", service_desk_id="8").check()
        assert flags(health) == (True, True, False)
        assert "Jira has no project 'GHOST' the account may browse" in health.detail
        assert "does not exist for the field 'project'" in health.detail

    async def test_unknown_service_desk(self) -> None:
        health = await make_connector(FakeJira(), service_desk_id="99").check()
        assert flags(health) == (True, True, False)
        assert "no service desk with id '99'" in health.detail

    async def test_a_time_filter_read_in_another_zone_is_refused(self) -> None:
        fake = FakeJira()
        fake.create("Printer jammed")
        fake.query_zone = "America/New_York"  # the site reads dates behind the account's UTC
        health = await make_connector(fake).check()
        assert flags(health) == (True, True, False)
        assert "does not read the poll's JQL time filter" in health.detail

    @pytest.mark.parametrize("setting", [{"project": "it sd"}, {"service_desk_id": "4/../x"}])
    def test_settings_that_cannot_go_into_jql_or_urls(self, setting: dict[str, str]) -> None:
        with pytest.raises(ConfigError, match="invalid settings"):
            make_connector(FakeJira(), **setting)
