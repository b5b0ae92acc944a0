"""Error mapping, settings and request details (shared/peers/rt/README.md § Errors,
§ Authentication, § Pagination, § API calls: Content-Type on every POST/PUT)."""

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
    Visibility,
    retry_after_seconds,
)
from connectors.rt.connector import RTConnector
from connectors.rt.models import quote, rt_timestamp
from tests.connectors.rt.fake_rt import FakeRT, answer, make_connector

TOKEN = "agent-token"
PATH = "/REST/2.0/transactions"


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (answer(401, {"message": "Unauthorized"}), AuthError, "rejected the token"),
        (answer(403, {"message": "Forbidden"}), AuthError, "may not search transactions"),
        (answer(400, {"message": "Permission Denied"}), AuthError, "missing RT right"),
        (answer(404, {"message": "Not Found"}), NotFound, "not found"),
        (answer(400, {"message": "Wrong query, expecting a VALUE"}), ConnectorError, "Wrong query"),
        (httpx.Response(500), TransientError, "500"),
        (httpx.Response(302, headers={"Location": "/"}), ConfigError, "check the URL"),
        (httpx.Response(429, headers={"Retry-After": "3"}), RateLimited, "rate limiting"),
    ],
)
async def test_http_failures_map_to_the_taxonomy(
    response: httpx.Response, error: type[ConnectorError], words: str
) -> None:
    fake = FakeRT()
    fake.faults[PATH] = response
    with pytest.raises(error) as raised:
        await make_connector(fake).changes_since(None)
    assert type(raised.value) is error
    assert words in raised.value.message
    assert TOKEN not in raised.value.message


async def test_rate_limit_carries_retry_after() -> None:
    fake = FakeRT()
    fake.faults[PATH] = httpx.Response(429, headers={"Retry-After": "3"})
    with pytest.raises(RateLimited) as raised:
        await make_connector(fake).changes_since(None)
    assert raised.value.retry_after == 3.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 28, 20, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Sat, 28 Nov 2026 20:01:00 GMT", now) == 60.0


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
async def test_network_failures_are_transient(failure: Exception) -> None:
    fake = FakeRT()
    fake.faults[PATH] = failure
    with pytest.raises(TransientError, match=r"rt\.test"):
        await make_connector(fake).changes_since(None)


async def test_unknown_queue_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'Nope' does not exist or"):
        await make_connector(FakeRT(), queue="Nope").changes_since(None)


async def test_requests_carry_the_token_and_json_type() -> None:
    fake = FakeRT()
    fake.add_ticket(1, "VPN", ["customer"])
    await make_connector(fake).add_comment("1", "Hi", Visibility.PUBLIC, "k")
    post = next(r for r in fake.requests if r.method == "POST")
    assert post.headers["Authorization"] == f"token {TOKEN}"
    assert post.headers["Content-Type"] == "application/json"
    searches = [r for r in fake.requests if r.url.path == PATH]
    assert {r.url.params["per_page"] for r in searches} == {"100"}


def test_ticketsql_literals() -> None:
    assert rt_timestamp(datetime(2026, 11, 28, 20, 28, 30, tzinfo=UTC)) == "2026-11-28 20:28:30"
    assert quote("O'Brien's queue") == "'O\\'Brien\\'s queue'"


class TestConfig:
    def test_missing_token(self) -> None:
        with pytest.raises(ConfigError, match="token"):
            RTConnector(
                ConnectorConfig(url="http://rt.test", settings={"queue": "q"}), httpx.AsyncClient()
            )

    def test_rest_url_is_taken_back_to_the_root(self) -> None:
        connector = make_connector(FakeRT(), url="http://RT.test:80/REST/2.0/")
        assert connector.settings.url == "http://rt.test"
        assert connector.client.rest_url == "http://rt.test/REST/2.0"

    def test_bad_url_does_not_echo_the_token(self) -> None:
        with pytest.raises(ConfigError) as raised:
            make_connector(FakeRT(), url="not a url")
        assert TOKEN not in raised.value.message
