"""`check()`: a clear refusal for each way a configuration fails (contracts/servicenow/README.md
§ 0 auth, § 1 invalid query parts ignored, § 7 status codes and error bodies)."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import Health
from tests.connectors.servicenow.fake import (
    NETWORK,
    SERVICE_DESK,
    FakeServiceNow,
    make_connector,
)

IDENTITY = f"servicenow:https://acme.service-now.com:incident:group:{SERVICE_DESK}"


def flags(health: Health) -> tuple[bool, bool, bool]:
    return health.reachable, health.authenticated, health.permissions_ok


class TestHealthy:
    async def test_basic_auth(self) -> None:
        health = await make_connector(FakeServiceNow()).check()
        assert health.ok, health.detail
        assert health.remote_identity == IDENTITY
        assert "'Service Desk' OK" in health.detail

    async def test_token(self) -> None:
        health = await make_connector(FakeServiceNow(), token="oauth-token-0123").check()
        assert health.ok, health.detail

    async def test_identity_is_canonical(self) -> None:
        connector = make_connector(
            FakeServiceNow(),
            url="HTTPS://ACME.service-now.com:443/now/nav/ui/home",
            assignment_group=SERVICE_DESK,
            table="incident",
        )
        assert (await connector.check()).remote_identity == IDENTITY

    async def test_without_sys_user_the_check_passes_and_says_so(self) -> None:
        fake = FakeServiceNow()
        fake.read_roles["sys_user"] = "admin"
        health = await make_connector(fake).check()
        assert health.ok
        assert "may not read sys_user" in health.detail


class TestRefused:
    async def test_wrong_password(self) -> None:
        health = await make_connector(
            FakeServiceNow(), secrets={"username": "socialdesk.integration", "password": "nope-42"}
        ).check()
        assert flags(health) == (True, False, False)
        assert "rejected the credentials (401: User Not Authenticated" in health.detail
        assert "nope-42" not in health.detail

    async def test_unknown_token(self) -> None:
        health = await make_connector(FakeServiceNow(), token="expired-token").check()
        assert flags(health) == (True, False, False)
        assert "401" in health.detail

    async def test_missing_role_is_named(self) -> None:
        health = await make_connector(FakeServiceNow(), user="abel.tuter").check()
        assert flags(health) == (True, True, False)
        assert "may not read the incident table (403: User Not Authorized" in health.detail
        assert "`itil`" in health.detail

    async def test_journal_not_readable(self) -> None:
        fake = FakeServiceNow()
        fake.read_roles["sys_journal_field"] = "admin"
        health = await make_connector(fake).check()
        assert flags(health) == (True, True, False)
        assert "may not read comments and work notes (sys_journal_field)" in health.detail

    async def test_unreachable(self) -> None:
        fake = FakeServiceNow()
        fake.faults["/api/now/table/incident"] = httpx.ConnectError("refused")
        health = await make_connector(fake).check()
        assert not health.reachable
        assert "cannot reach ServiceNow at https://acme.service-now.com" in health.detail

    async def test_not_a_servicenow_instance(self) -> None:
        fake = FakeServiceNow()
        fake.faults["/api/now/table/incident"] = httpx.Response(200, text="<html>Login</html>")
        health = await make_connector(fake).check()
        assert not health.ok
        assert "did not answer with Table API JSON (read the incident table)" in health.detail

    async def test_unknown_table(self) -> None:
        health = await make_connector(FakeServiceNow(), table="incidnet").check()
        assert flags(health) == (True, True, False)
        assert "ServiceNow has no table 'incidnet'" in health.detail

    async def test_table_without_assignment_group(self) -> None:
        fake = FakeServiceNow()
        fake.rows["u_facilities_request"].append(
            {
                "sys_id": "a" * 32,
                "number": "FAC0001",
                "short_description": "Desk",
                "sys_updated_on": "",
            }
        )
        health = await make_connector(fake, table="u_facilities_request").check()
        assert flags(health) == (True, True, False)
        assert "has no assignment_group field" in health.detail

    async def test_unknown_assignment_group(self) -> None:
        health = await make_connector(FakeServiceNow(), assignment_group="Servce Desk").check()
        assert flags(health) == (True, True, False)
        assert "no assignment group with name 'Servce Desk'" in health.detail

    async def test_an_ignored_group_term_is_not_taken_for_a_match(self) -> None:
        fake = FakeServiceNow()
        fake.ignored_fields = {"name"}  # the query would list every group
        health = await make_connector(fake, assignment_group="Nope").check()
        assert "no assignment group with name 'Nope'" in health.detail

    async def test_ambiguous_group_name(self) -> None:
        fake = FakeServiceNow()
        fake.rows["sys_user_group"].append({"sys_id": "b" * 32, "name": "Network"})
        health = await make_connector(fake, assignment_group="Network").check()
        assert "give the group's sys_id" in health.detail
        assert (await make_connector(fake, assignment_group=NETWORK).check()).ok

    async def test_a_time_filter_read_behind_utc_is_refused(self) -> None:
        fake = FakeServiceNow()
        fake.create("Printer jammed")
        fake.query_zone_hours = -5  # the integration user's zone: US Eastern
        health = await make_connector(fake).check()
        assert flags(health) == (True, True, False)
        assert "set the user's time zone to GMT" in health.detail

    async def test_a_time_filter_read_ahead_of_utc_only_rereads_more(self) -> None:
        fake = FakeServiceNow()
        fake.create("Printer jammed")
        fake.query_zone_hours = 2
        assert (await make_connector(fake).check()).ok

    @pytest.mark.parametrize(
        ("secrets", "words"),
        [
            ({}, "give the secrets username and password, or token"),
            ({"username": "socialdesk.integration"}, "the secret password is missing"),
            (
                {"username": "a", "password": "b", "token": "c"},
                "either the secrets username and password, or token, not both",
            ),
        ],
    )
    async def test_credentials_must_be_one_pair(self, secrets: dict[str, str], words: str) -> None:
        fake = FakeServiceNow()
        health = await make_connector(fake, secrets=secrets).check()
        assert not health.ok
        assert words in health.detail
        assert fake.requests == []  # nothing sent without a usable pair
