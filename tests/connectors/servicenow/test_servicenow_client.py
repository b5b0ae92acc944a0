"""Error mapping, rate limits and paging (contracts/servicenow/README.md § 1 Pagination
headers, § 6 Rate limiting, § 7 Error bodies), and the settings."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorConfig,
    ConnectorError,
    NotFound,
    RateLimited,
    TransientError,
)
from connectors.http import InvalidRequest
from connectors.servicenow.client import _next_offset
from connectors.servicenow.connector import ServiceNowConnector
from connectors.servicenow.models import parse_timestamp, servicenow_timestamp
from tests.connectors.fake_support import drain
from tests.connectors.servicenow.fake import URL, FakeServiceNow, error, fixture, make_connector

PASSWORD = "s3cret-pass"
LISTING = "/api/now/table/incident"


@pytest.mark.parametrize(
    ("response", "kind", "words"),
    [
        (httpx.Response(401, json=fixture("error_bodies.json")["401"]), AuthError, "401"),
        (
            httpx.Response(403, json=fixture("error_bodies.json")["403"]),
            AuthError,
            "may not list records (403: User Not Authorized: Failed API level ACL Validation)",
        ),
        (error(404, "No Record found", None), NotFound, "No Record found"),
        (error(400, "Invalid table incident", None), InvalidRequest, "Invalid table"),
        (error(500, "Internal", None), TransientError, "500"),
        (httpx.Response(503), TransientError, "503"),
        (httpx.Response(302, headers={"Location": "/wake"}), ConfigError, "hibernating"),
        (httpx.Response(418), ConnectorError, "418"),
    ],
)
async def test_http_failures_map_to_the_taxonomy(
    response: httpx.Response, kind: type[ConnectorError], words: str
) -> None:
    fake = FakeServiceNow()
    fake.create("Printer jammed")
    fake.faults[LISTING] = response
    with pytest.raises(kind) as raised:
        await make_connector(fake).changes_since(None)
    assert words in raised.value.message
    assert PASSWORD not in raised.value.message


class TestRateLimits:
    async def test_429_carries_retry_after(self) -> None:
        fake = FakeServiceNow()
        fake.throttled = 1
        with pytest.raises(RateLimited) as raised:
            await make_connector(fake).changes_since(None)
        assert raised.value.retry_after == 7.0
        assert "rate limiting" in raised.value.message

    async def test_without_retry_after_the_reset_time_is_used(self) -> None:
        fake = FakeServiceNow()
        fake.throttled, fake.retry_after = 1, None
        with pytest.raises(RateLimited) as raised:
            await make_connector(fake).changes_since(None)
        assert raised.value.retry_after == 7.0  # X-RateLimit-Reset minus the server's Date

    async def test_the_next_poll_after_the_wait_goes_on(self) -> None:
        fake = FakeServiceNow()
        fake.create("Printer jammed")
        connector = make_connector(fake)
        fake.throttled = 1
        with pytest.raises(RateLimited):
            await connector.changes_since(None)
        changes, _ = await drain(connector, None)
        assert [c.ticket.title for c in changes] == ["Printer jammed"]

    async def test_a_429_in_the_check_says_to_try_again(self) -> None:
        fake = FakeServiceNow()
        fake.throttled = 1
        health = await make_connector(fake).check()
        assert not health.ok
        assert "rate limiting" in health.detail
        assert "try the check again in 7 s" in health.detail


class TestPaging:
    async def test_journal_pages_follow_the_link_header(self) -> None:
        fake = FakeServiceNow()
        record = fake.create("Chatty")
        for n in range(230):
            fake.update(record["sys_id"], comments=f"note {n}")
        connector = make_connector(fake)
        changes, _ = await drain(connector, None)
        assert len(changes) == 231
        reads = [r for r in fake.requests if r.url.path == "/api/now/table/sys_journal_field"]
        offsets = [r.url.params["sysparm_offset"] for r in reads]
        assert offsets[:3] == ["0", "100", "200"]
        assert {r.url.params["sysparm_limit"] for r in reads} == {"100"}

    def test_the_contract_link_header(self) -> None:
        headers = fixture("paging_headers.json")
        response = httpx.Response(
            200, headers={"Link": headers["Link"], "X-Total-Count": headers["X-Total-Count"]}
        )
        assert _next_offset(response, 0, 10000, 10000) == 10000

    def test_no_link_header_is_a_single_page(self) -> None:
        assert _next_offset(httpx.Response(200), 0, 3, 100) is None

    def test_a_last_page_has_no_next(self) -> None:
        link = f'<{URL}/api/now/table/incident?sysparm_offset=0>;rel="first"'
        assert _next_offset(httpx.Response(200, headers={"Link": link}), 100, 100, 100) is None

    async def test_credentials_never_follow_a_link_to_another_host(self) -> None:
        fake = FakeServiceNow()
        for n in range(120):
            fake.create(f"Ticket {n}")
        seen: list[str] = []

        def other_host(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url.host))
            response = fake.handle(request)
            if "Link" in response.headers:
                response.headers["Link"] = response.headers["Link"].replace(
                    "acme.service-now.com", "evil.example"
                )
            return response

        config = ConnectorConfig(
            url=URL,
            secrets={
                "username": SecretStr("socialdesk.integration"),
                "password": SecretStr(PASSWORD),
            },
            settings={"assignment_group": "Service Desk"},
        )
        http = httpx.AsyncClient(transport=httpx.MockTransport(other_host))
        changes, _ = await drain(ServiceNowConnector(config, http), None)
        assert len(changes) == 120
        assert set(seen) == {"acme.service-now.com"}


class TestSettings:
    def test_basic_auth_header(self) -> None:
        connector = make_connector(FakeServiceNow())
        header = connector.settings.authorization()
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        assert (user, password) == ("socialdesk.integration", PASSWORD)

    def test_secrets_are_not_in_the_settings_repr(self) -> None:
        connector = make_connector(FakeServiceNow(), token="oauth-token-0123")
        assert "oauth-token-0123" not in repr(connector.settings)

    @pytest.mark.parametrize(
        ("settings", "words"),
        [
            ({"assignment_group": "Desk^ORDERBYx"}, "assignment_group"),
            ({"table": "Incident; drop"}, "table"),
        ],
    )
    def test_bad_settings_name_the_setting(self, settings: dict[str, str], words: str) -> None:
        config = ConnectorConfig(
            url=URL,
            secrets={"token": SecretStr("t")},
            settings={"assignment_group": "Desk", **settings},
        )
        with pytest.raises(ConfigError) as raised:
            ServiceNowConnector(config, httpx.AsyncClient())
        assert words in raised.value.message

    def test_the_group_is_required(self) -> None:
        config = ConnectorConfig(url=URL, settings={})
        with pytest.raises(ConfigError, match="assignment_group"):
            ServiceNowConnector(config, httpx.AsyncClient())

    def test_timestamps_are_utc(self) -> None:
        moment = parse_timestamp("2016-01-19 04:52:04")
        assert moment == datetime(2016, 1, 19, 4, 52, 4, tzinfo=UTC)
        assert servicenow_timestamp(datetime(2016, 1, 19, 4, 52, 4, 900, tzinfo=UTC)) == (
            "2016-01-19 04:52:04"
        )
