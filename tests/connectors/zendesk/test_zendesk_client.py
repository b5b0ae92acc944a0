"""Rate limits, error mapping, paging and settings (contracts/zendesk/README.md § 0 auth,
§ 2 paging, § 6 429 with Retry-After and a text/plain body, § 7 text/plain errors)."""

from __future__ import annotations

import base64

import httpx
import pytest
from pydantic import SecretStr

from connectors.base import (
    AuthError,
    ConnectorError,
    NotFound,
    RateLimited,
    TransientError,
    Visibility,
)
from connectors.http import InvalidRequest
from connectors.zendesk.config import ZendeskConfig
from tests.connectors.fake_support import drain
from tests.connectors.zendesk.fake import URL, FakeZendesk, make_connector

EXPORT = "/api/v2/incremental/tickets/cursor.json"


@pytest.mark.parametrize(
    ("response", "kind", "words"),
    [
        (httpx.Response(401, json={"error": "Couldn't authenticate you"}), AuthError, "401"),
        (httpx.Response(403, json={"error": "Forbidden"}), AuthError, "403: Forbidden"),
        (httpx.Response(404, text="Not Found"), NotFound, "404: Not Found"),
        (httpx.Response(400, text="Bad request"), InvalidRequest, "400: Bad request"),
        (httpx.Response(503, text="Maintenance"), TransientError, "503: Maintenance"),
        (httpx.Response(302, headers={"Location": "/access"}), ConnectorError, "redirected"),
    ],
)
async def test_http_failures_map_to_the_taxonomy(
    response: httpx.Response, kind: type[Exception], words: str
) -> None:
    fake = FakeZendesk()
    fake.faults[EXPORT] = response
    with pytest.raises(kind, match=words):
        await make_connector(fake).changes_since(None)


class TestRateLimits:
    async def test_429_carries_retry_after(self) -> None:
        fake = FakeZendesk()
        fake.throttled = 1
        with pytest.raises(RateLimited) as info:
            await make_connector(fake).changes_since(None)
        assert info.value.retry_after == 93
        assert "Rate limit for ticket updates exceeded" in info.value.message  # text/plain

    async def test_the_next_poll_after_the_wait_goes_on(self) -> None:
        fake = FakeZendesk()
        fake.create("VPN")
        fake.tick(61)
        connector = make_connector(fake)
        first = await connector.changes_since(None)
        fake.create("Printer")
        fake.tick(61)

        def throttle_comments(request: httpx.Request) -> None:
            if request.url.path == EXPORT:
                fake.throttled = 1

        fake.after_request = throttle_comments
        with pytest.raises(RateLimited):
            await connector.changes_since(first.cursor)
        fake.after_request = None
        changes, _ = await drain(connector, first.cursor)
        assert [c.ticket.title for c in changes if c.kind == "ticket.created"] == ["Printer"]

    async def test_a_throttled_write_is_rate_limited(self) -> None:
        fake = FakeZendesk()
        ticket_id = fake.create("VPN")["id"]
        connector = make_connector(fake)
        fake.throttled = 1
        with pytest.raises(RateLimited):
            await connector.add_comment(str(ticket_id), "Hi", Visibility.PUBLIC, "chat:1")
        assert not [r for r in fake.requests if r.method == "PUT"]


class TestPaging:
    async def test_comment_pages_follow_the_after_cursor(self) -> None:
        fake = FakeZendesk()
        ticket_id = fake.create("Long thread")["id"]
        for n in range(230):
            fake.comment(ticket_id, f"c{n}")
        fake.tick(61)
        changes, _ = await drain(make_connector(fake), None)
        assert len([c for c in changes if c.kind == "ticket.commented"]) == 231
        reads = [r for r in fake.requests if r.url.path.endswith("/comments.json")]
        # The first read pages through all; the pages cut at 100 changes read again.
        assert [r.url.params.get("page[after]") for r in reads[:3]] == [None, "c100", "c200"]
        assert {r.url.params["page[size]"] for r in reads} == {"100"}

    async def test_credentials_never_leave_in_urls(self) -> None:
        fake = FakeZendesk()
        fake.create("VPN")
        fake.tick(61)
        await drain(make_connector(fake), None)
        assert all("token" not in str(r.url) for r in fake.requests)


class TestSettings:
    def test_basic_auth_header(self) -> None:
        config = ZendeskConfig(url=URL, email="a@b.example", api_token=SecretStr("tok"))
        expected = base64.b64encode(b"a@b.example/token:tok").decode()
        assert config.authorization() == f"Basic {expected}"

    def test_secrets_are_not_in_the_repr(self) -> None:
        connector = make_connector(FakeZendesk())
        assert "6wiIBWb" not in repr(connector.settings)
        assert "whsec-1" not in repr(connector.settings)

    def test_an_api_url_is_cut_back_to_the_subdomain(self) -> None:
        connector = make_connector(FakeZendesk(), url="https://acme.zendesk.com/api/v2/tickets/")
        assert connector.settings.url == URL
