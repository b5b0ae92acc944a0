"""Error mapping, paging parameters and settings (shared/peers/redmine/README.md § Error
responses, § Pagination, § List issues changed since a cursor, § Auth)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorConfig,
    ConnectorError,
    NotFound,
    RateLimited,
    TransientError,
    retry_after_seconds,
)
from connectors.redmine.connector import RedmineConnector
from tests.connectors.redmine.fake_redmine import FakeRedmine, empty, make_connector

SECRET = "agent-key"


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (empty(401), AuthError, "rejected the API key"),
        (empty(403), AuthError, "may not list issues"),
        (empty(404), NotFound, "not found"),
        (empty(500), TransientError, "500"),
        (empty(503), TransientError, "503"),
        (
            httpx.Response(422, json={"errors": ["Updated is invalid"]}),
            ConnectorError,
            "Updated is invalid",
        ),
        (httpx.Response(429, headers={"Retry-After": "7"}), RateLimited, "rate limiting"),
    ],
)
async def test_http_failures_map_to_the_taxonomy(
    response: httpx.Response, error: type[ConnectorError], words: str
) -> None:
    fake = FakeRedmine()
    fake.faults["/issues.json"] = response
    with pytest.raises(error) as raised:
        await make_connector(fake).changes_since(None)
    assert type(raised.value) is error
    assert words in raised.value.message
    assert SECRET not in raised.value.message


async def test_rate_limit_carries_retry_after() -> None:
    fake = FakeRedmine()
    fake.faults["/issues.json"] = httpx.Response(429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as raised:
        await make_connector(fake).changes_since(None)
    assert raised.value.retry_after == 7.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 28, 20, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Sat, 28 Nov 2026 20:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon", now) is None


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_network_failures_are_transient(failure: Exception) -> None:
    fake = FakeRedmine()
    fake.faults["/issues.json"] = failure
    with pytest.raises(TransientError, match=r"redmine\.test"):
        await make_connector(fake).changes_since(None)


async def test_unknown_project_is_a_config_error() -> None:
    connector = make_connector(FakeRedmine(), project="nope")
    with pytest.raises(ConfigError, match="'nope' does not exist"):
        await connector._the_project()


async def test_non_redmine_answer_is_a_config_error() -> None:
    fake = FakeRedmine()
    fake.faults["/issues.json"] = httpx.Response(200, text="<html>login</html>")
    with pytest.raises(ConfigError, match="Redmine root URL"):
        await make_connector(fake).changes_since(None)


class TestListingParameters:
    async def test_first_poll_asks_for_every_status_100_at_a_time(self) -> None:
        fake = FakeRedmine()
        await make_connector(fake).changes_since(None)
        params = fake.requests[0].url.params
        assert params["status_id"] == "*"
        assert params["limit"] == "100"
        assert params["sort"] == "updated_on,id"
        assert params["project_id"] == "it-services"
        assert "updated_on" not in params
        assert fake.requests[0].headers["X-Redmine-API-Key"] == SECRET

    async def test_later_polls_filter_on_whole_seconds_with_z(self) -> None:
        fake = FakeRedmine()
        fake.create("VPN does not connect")
        connector = make_connector(fake)
        page = await connector.changes_since(None)
        fake.requests.clear()
        await connector.changes_since(page.cursor)
        # 20:36:52 minus the 10 s overlap; no fractions, no offset (those give 422)
        assert fake.requests[0].url.params["updated_on"] == ">=2026-11-28T20:36:42Z"


class TestConfig:
    def test_missing_key(self) -> None:
        with pytest.raises(ConfigError, match="api_key"):
            RedmineConnector(
                ConnectorConfig(url="http://r.test", settings={"project": "x"}),
                httpx.AsyncClient(),
            )

    def test_bad_url_names_the_setting_not_the_key(self) -> None:
        with pytest.raises(ConfigError) as raised:
            make_connector(FakeRedmine(), url="ftp://r.test")
        assert "url" in raised.value.message
        assert SECRET not in raised.value.message

    def test_bad_poll_interval(self) -> None:
        with pytest.raises(ConfigError, match="poll_interval"):
            make_connector(FakeRedmine(), poll_interval="0")

    def test_url_is_normalized(self) -> None:
        connector = make_connector(FakeRedmine(), url="HTTP://Redmine.Test:80/sub/")
        assert connector.settings.url == "http://redmine.test/sub"
