"""What the contract fakes share: the request handling around each vendor's routing, and
the helpers their tests use to read a connector's change feed.

A fake subclasses `FakeHttp` and writes `_route` (its vendor's endpoints, from
authentication on) and `_throttle` (its vendor's 429); `_every_answer` adds headers every answer
carries (ServiceNow's `Date`, Freshservice's rate-limit headers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import httpx

from connectors.base import Connector, TicketChange


class FakeHttp:
    """Records requests, answers forced faults and throttling, then routes."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        # Called after each answer: lets a test change the system between two requests.
        self.after_request: Callable[[httpx.Request], None] | None = None
        self.faults: dict[str, httpx.Response | Exception] = {}  # path → forced answer
        self.throttled = 0  # answer this many next requests with the vendor's 429

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self._answer(request)
        self._every_answer(response)
        if self.after_request is not None:
            self.after_request(request)
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        fault = self.faults.get(request.url.path)
        if isinstance(fault, Exception):
            raise fault
        if fault is not None:
            return fault
        if self.throttled:
            self.throttled -= 1
            return self._throttle()
        return self._route(request)

    def _every_answer(self, response: httpx.Response) -> None:
        """Headers on every answer, forced ones included; none unless a fake says so."""

    def _throttle(self) -> httpx.Response:
        """The vendor's answer to a throttled request."""
        raise NotImplementedError

    def _route(self, request: httpx.Request) -> httpx.Response:
        """The vendor's answer, from authentication on."""
        raise NotImplementedError


async def drain(connector: Connector, cursor: str | None) -> tuple[list[TicketChange], str | None]:
    """Every change ready now, page by page, and the last cursor."""
    changes: list[TicketChange] = []
    for _ in range(200):  # a feed that never runs dry fails the test instead of hanging
        page = await connector.changes_since(cursor)
        changes += page.changes
        cursor = page.cursor
        if not page.has_more:
            return changes, cursor
    raise AssertionError("changes_since never ran dry")


def ids(changes: Iterable[TicketChange]) -> list[str]:
    return [c.source_id for c in changes]
