"""Thin async client for ServiceNow's Table API: URLs, auth header, paging, error mapping.

Section numbers are those of contracts/servicenow/README.md. Every failure leaves this
module as one of the base taxonomy's errors, with ServiceNow's own `error.message` and
`error.detail` (§ 7) and never a credential (they travel in a header, not in URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from connectors.base import ConfigError, ConnectorError, TransientError, retry_after_seconds
from connectors.http import Vendor, VendorClient

PAGE_LIMIT = 100
# Every list request: stored values, not display values (§ 1), and references as plain
# sys_ids instead of `{"link", "value"}` objects.
LIST_PARAMS = {"sysparm_display_value": "false", "sysparm_exclude_reference_link": "true"}
# A list that never ends (a server ignoring `sysparm_offset`) stops here, not in a loop.
MAX_PAGES = 1000


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    next_offset: int | None


def _server_date(response: httpx.Response) -> datetime:
    try:
        when = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def error_text(response: httpx.Response) -> str:
    """`message: detail` from ServiceNow's error envelope (§ 7), or "" when there is none."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return ""
    parts = [str(error[k]) for k in ("message", "detail") if error.get(k)]
    return ": ".join(parts)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` seconds, else the time left until `X-RateLimit-Reset` (a UNIX time, § 6)."""
    seconds = retry_after_seconds(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    try:
        reset = float(response.headers.get("X-RateLimit-Reset", ""))
    except ValueError:
        return None
    return max(0.0, reset - _server_date(response).timestamp())


VENDOR = Vendor(
    name="ServiceNow",
    error_text=error_text,
    rejected="the credentials",
    auth_hint="the user name and password, or the token, are wrong, expired or locked",
    redirect_hint=(
        "check the instance URL (a hibernating developer instance redirects until it is woken up)"
    ),
    speaks="Table API JSON",
    url_hint="the instance URL (https://<instance>.service-now.com)",
    retry_after=_retry_after,
)


def _next_offset(response: httpx.Response, offset: int, rows: int, limit: int) -> int | None:
    """Where the next page starts, from the `Link` header's `next` (§ 1 Pagination).

    Only the link's `sysparm_offset` is used: the request is rebuilt on our base URL, so
    credentials never go to a host a response header names. Without a `Link` header
    ServiceNow has a single page; a full page without one is still followed, once.
    """
    if "Link" not in response.headers:
        return offset + rows if rows >= limit else None
    link = response.links.get("next")
    if link is None:
        return None
    values = parse_qs(urlsplit(link.get("url", "")).query).get("sysparm_offset", [])
    try:
        following = int(values[0])
    except (IndexError, ValueError):
        return offset + rows if rows else None
    return following if following > offset else None


class ServiceNowClient(VendorClient):
    """Table API calls for one instance URL and credentials."""

    vendor = VENDOR

    def _url(self, table: str, sys_id: str | None = None) -> str:
        path = f"{self.base_url}/api/now/table/{table}"
        return path if sys_id is None else f"{path}/{sys_id}"

    async def _request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        return await self.send(method, url, what, params=params, body=body)

    def _result(self, response: httpx.Response, what: str) -> object:
        """The Table API's `result`; an object without one is not the Table API either."""
        data = self.json_object(response, what)
        if "result" not in data:
            raise self.not_the_api(what)
        return data["result"]

    async def page(
        self, table: str, query: str, fields: str, what: str, *, offset: int = 0, limit: int = 0
    ) -> Page:
        """One page of `GET /api/now/table/<table>` for an encoded query (§ 1)."""
        limit = limit or PAGE_LIMIT
        params: dict[str, str | int] = {
            "sysparm_query": query,
            "sysparm_fields": fields,
            "sysparm_limit": limit,
            "sysparm_offset": offset,
            **LIST_PARAMS,
        }
        response = await self._request("GET", self._url(table), what, params=params)
        rows = self._result(response, what)
        if not isinstance(rows, list):
            raise ConfigError(f"ServiceNow answered {what} without a list of records")
        return Page(rows, _next_offset(response, offset, len(rows), limit))

    async def rows(self, table: str, query: str, fields: str, what: str) -> list[Any]:
        """Every row of a query, page after page."""
        found: list[Any] = []
        offset: int | None = 0
        for _ in range(MAX_PAGES):
            if offset is None:
                return found
            page = await self.page(table, query, fields, what, offset=offset)
            found += page.rows
            offset = page.next_offset
        raise TransientError(f"ServiceNow kept paging ({what}): more than {MAX_PAGES} pages")

    async def record(self, table: str, sys_id: str, fields: str) -> dict[str, Any]:
        """`GET /api/now/table/<table>/<sys_id>`; a missing record is `NotFound`."""
        what = f"read {table} record {sys_id}"
        params: dict[str, str | int] = {"sysparm_fields": fields, **LIST_PARAMS}
        response = await self._request("GET", self._url(table, sys_id), what, params=params)
        row = self._result(response, what)
        if not isinstance(row, dict):
            raise ConnectorError(f"ServiceNow answered {what} without a record")
        return row

    async def update(self, table: str, sys_id: str, fields: dict[str, str], what: str) -> None:
        """`PATCH /api/now/table/<table>/<sys_id>` (§ 3); the answer is not trusted as proof."""
        params: dict[str, str | int] = {"sysparm_fields": "sys_id", **LIST_PARAMS}
        await self._request("PATCH", self._url(table, sys_id), what, params=params, body=fields)
