"""The client's paging and rate limits (contracts/jira-sm/README.md § 1a `nextPageToken`,
§ 1c `startAt`/`isLast`, § 2b `start`/`isLastPage`, § 6 429 with `Retry-After` and
`X-RateLimit-Reset`)."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import RateLimited, TransientError
from tests.connectors.fake_support import drain
from tests.connectors.jira_sm.fake import FakeJira, make_connector, searches


class TestPaging:
    async def test_search_follows_next_page_token_until_the_last_page(self) -> None:
        fake = FakeJira()
        for n in range(5):
            fake.tick(1)
            fake.create(f"Request {n}")
        fake.search_page = 2
        changes, _ = await drain(make_connector(fake), None)
        assert len(changes) == 5
        tokens = [r.url.params.get("nextPageToken") for r in searches(fake)]
        assert tokens[0] is None
        assert all(tokens[1:])
        assert len(tokens) == 3

    async def test_changelog_and_comments_are_read_page_by_page(self) -> None:
        fake = FakeJira()
        fake.create("Chatty")
        for n in range(120):
            fake.comment("ITSD-1", f"c{n}", public=True)
            fake.change("ITSD-1", summary=f"title {n}")
        changes, _ = await drain(make_connector(fake), None)
        assert len(changes) == 241
        comment_pages = [
            r.url.params["start"] for r in fake.requests if r.url.path.endswith("/comment")
        ]
        assert comment_pages[:3] == ["0", "50", "100"]
        log_pages = [
            r.url.params["startAt"] for r in fake.requests if r.url.path.endswith("/changelog")
        ]
        assert log_pages[:2] == ["0", "100"]

    async def test_a_page_that_never_ends_is_cut_off(self) -> None:
        fake = FakeJira()
        fake.create("Loop")
        endless = {
            "startAt": 0,
            "maxResults": 100,
            "isLast": False,
            "values": [{"id": "1", "created": "2026-11-28T20:00:00.000+0000"}],
        }
        fake.faults["/rest/api/3/issue/10001/changelog"] = httpx.Response(200, json=endless)
        with pytest.raises(TransientError, match="kept paging"):
            await make_connector(fake).changes_since(None)


class TestRateLimits:
    async def test_429_carries_retry_after(self) -> None:
        fake = FakeJira()
        fake.create("Busy")
        connector = make_connector(fake)
        await connector.check()
        fake.throttled = 1
        with pytest.raises(RateLimited) as info:
            await connector.changes_since(None)
        assert info.value.retry_after == 7.0

    async def test_without_retry_after_the_reset_time_is_used(self) -> None:
        fake = FakeJira()
        fake.retry_after = None
        fake.throttled = 1
        with pytest.raises(RateLimited) as info:
            await make_connector(fake).changes_since(None)
        assert info.value.retry_after is not None

    async def test_the_poll_resumes_after_a_429(self) -> None:
        fake = FakeJira()
        fake.create("One")
        connector = make_connector(fake)
        await connector.check()
        fake.throttled = 1
        with pytest.raises(RateLimited):
            await connector.changes_since(None)
        changes, _ = await drain(connector, None)
        assert len(changes) == 1

    async def test_a_503_with_retry_after_waits_too(self) -> None:
        fake = FakeJira()
        fake.faults["/rest/api/3/myself"] = httpx.Response(503, headers={"Retry-After": "30"})
        with pytest.raises(RateLimited) as info:
            await make_connector(fake).changes_since(None)
        assert info.value.retry_after == 30.0
