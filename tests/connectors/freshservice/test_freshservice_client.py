"""The client: 429 with `Retry-After` (§ 6), paging by `page`/`per_page` and `Link`
(§ 0, § 1), error mapping (§ 7), and a next link that points elsewhere is not followed."""

from __future__ import annotations

import re

import httpx
import pytest

from connectors.base import AuthError, ConfigError, RateLimited, TransientError
from connectors.freshservice.client import next_link
from connectors.http import InvalidRequest
from tests.connectors.freshservice.fake import FakeFreshservice, error, listings, make_connector


class TestRateLimits:
    async def test_429_carries_retry_after(self) -> None:
        fake = FakeFreshservice()
        fake.throttled = 1
        with pytest.raises(RateLimited) as info:
            await make_connector(fake).changes_since(None)
        assert info.value.retry_after == 37.0
        assert "rate limiting" in info.value.message

    async def test_the_next_poll_goes_on(self) -> None:
        fake = FakeFreshservice()
        fake.create("One")
        connector = make_connector(fake)
        fake.throttled = 1
        with pytest.raises(RateLimited):
            await connector.changes_since(None)
        page = await connector.changes_since(None)
        assert len(page.changes) == 1


class TestPaging:
    async def test_every_page_is_read_by_its_link(self) -> None:
        fake = FakeFreshservice()
        fake.per_page_cap = 2
        made = [fake.create(f"T{n}") for n in range(5)]
        page = await make_connector(fake).changes_since(None)
        assert len(page.changes) == len(made)
        assert [r.url.params["page"] for r in listings(fake)] == ["1", "2", "3"]
        # The link's page is read with the listing's own filters.
        assert {r.url.params["updated_since"] for r in listings(fake)} == {"1970-01-01T00:00:00Z"}

    async def test_conversations_are_paged_too(self) -> None:
        fake = FakeFreshservice()
        fake.per_page_cap = 2
        ticket = fake.create("Chatty")
        for n in range(5):
            fake.reply(ticket["id"], f"Reply {n}")
        page = await make_connector(fake).changes_since(None)
        assert [c.body for c in page.changes[1:]] == [f"Reply {n}" for n in range(5)]

    async def test_a_link_elsewhere_is_not_followed_with_the_key(self) -> None:
        fake = FakeFreshservice()
        fake.create("One")
        fake.faults["/api/v2/tickets"] = httpx.Response(
            200,
            json={"tickets": []},
            headers={"Link": '<https://evil.example/api/v2/tickets?page=2>; rel="next"'},
        )
        page = await make_connector(fake).changes_since(None)  # an empty page ends it
        assert page.changes == []
        fake.faults["/api/v2/tickets"] = httpx.Response(
            200,
            json={"tickets": [dict(next(iter(fake.tickets.values())))]},
            headers={"Link": '<https://evil.example/api/v2/tickets?page=2>; rel="next"'},
        )
        with pytest.raises(ConfigError, match="points elsewhere"):
            await make_connector(fake).changes_since(None)
        assert all(r.url.host == "its-fine.freshservice.com" for r in fake.requests)

    @pytest.mark.parametrize(
        ("header", "url"),
        [
            ('<https://a.freshservice.com/api/v2/tickets?page=2>; rel="next"', "page=2"),
            ("<https://a.freshservice.com/api/v2/tickets?page=3>", "page=3"),
            ('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"', "page=3"),
            ('<https://a/x?page=1>; rel="prev"', None),
            ("", None),
        ],
    )
    def test_link_header(self, header: str, url: str | None) -> None:
        found = next_link(header)
        assert (found.rsplit("?", 1)[1] if found else None) == url


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "kind", "words"),
        [
            (401, AuthError, "rejected the API key"),
            (400, InvalidRequest, "Validation failed; updated_since: invalid"),
            (503, TransientError, "failed to list tickets (503"),
        ],
    )
    async def test_mapped(self, status: int, kind: type[Exception], words: str) -> None:
        fake = FakeFreshservice()
        fake.faults["/api/v2/tickets"] = error(
            status,
            "Validation failed",
            errors=[{"field": "updated_since", "message": "invalid"}],
        )
        with pytest.raises(kind, match=re.escape(words)):
            await make_connector(fake).changes_since(None)
