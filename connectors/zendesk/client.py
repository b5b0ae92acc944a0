"""Thin async client for Zendesk Support API v2: URLs, auth header, paging, error mapping.

Section numbers are those of contracts/zendesk/README.md. Every failure leaves this module
as one of the base taxonomy's errors, with Zendesk's own words when it gave some (JSON
`error`/`description`, or the text/plain body of § 6/§ 7) and never a credential (they
travel in a header, not in URLs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.base import ConfigError, TransientError
from connectors.http import Vendor, VendorClient

EXPORT_PAGE = 100  # tickets per export page (§ 1a: up to 1,000)
COMMENT_PAGE = 100  # § 2: "a maximum of 100 records per page"
# A comment list that never ends (a server ignoring `page[after]`) stops here.
MAX_COMMENT_PAGES = 60  # § 2: at most 5,000 comments per ticket


@dataclass(frozen=True, slots=True)
class ExportPage:
    """One page of the cursor-based incremental export (§ 1a)."""

    tickets: list[Any]
    after_cursor: str | None
    end_of_stream: bool


@dataclass(frozen=True, slots=True)
class CommentPage:
    """One page of a ticket's comments (§ 2), with the side-loaded users."""

    comments: list[Any]
    users: list[Any] = field(default_factory=list)
    after_cursor: str | None = None
    has_more: bool = False


def error_text(response: httpx.Response) -> str:
    """Zendesk's own words: JSON `error`/`description`, else the first line of the text."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    for key in ("error", "description"):
        value = data.get(key)
        if isinstance(value, dict):  # ASSUMED shape {"error": {"title", "message"}}
            value = value.get("message") or value.get("title")
        if isinstance(value, str) and value:
            parts.append(value)
    return ": ".join(parts)[:300]


VENDOR = Vendor(
    name="Zendesk",
    error_text=error_text,
    rejected="the e-mail address and API token",
    auth_hint=(
        "check the address of the agent, that the token is active and that token access is enabled"
    ),
    redirect_hint="check the URL (https://<subdomain>.zendesk.com)",
    speaks="Zendesk API JSON",
    url_hint="the subdomain URL (https://<subdomain>.zendesk.com)",
    invalid_statuses=frozenset({400, 422}),
)


class ZendeskClient(VendorClient):
    """API v2 calls for one subdomain and credentials."""

    vendor = VENDOR

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = dict(self._headers)
        content = None
        if method != "GET":  # § 0: Content-Type on PUT, POST and DELETE
            headers["Content-Type"] = "application/json"
            content = json.dumps(body if body is not None else {}).encode()
        url = f"{self.base_url}{path}"
        return await self.send(method, url, what, params=params, content=content, headers=headers)

    async def export(
        self, *, cursor: str | None, start_time: int | None, per_page: int = EXPORT_PAGE
    ) -> ExportPage:
        """`GET /api/v2/incremental/tickets/cursor.json` (§ 1a): `start_time` once, then `cursor`.

        `start_time` only on the first request; later ones send Zendesk's cursor alone.
        """
        params: dict[str, str | int] = {"per_page": per_page}
        if cursor is not None:
            params["cursor"] = cursor
        elif start_time is not None:
            params["start_time"] = start_time
        else:
            raise ValueError("the export needs a cursor or a start time")
        what = "read the incremental ticket export"
        path = "/api/v2/incremental/tickets/cursor.json"
        data = self.json_object(await self._request("GET", path, what, params=params), what)
        tickets = data.get("tickets")
        after = data.get("after_cursor")
        if not isinstance(tickets, list) or "end_of_stream" not in data:
            raise ConfigError(f"Zendesk answered {what} without tickets and end_of_stream")
        return ExportPage(
            tickets,
            after if isinstance(after, str) and after else None,
            data["end_of_stream"] is True,
        )

    async def comments(
        self, ticket_id: int, *, after: str | None = None, newest_first: bool = False
    ) -> CommentPage:
        """One page of `GET /api/v2/tickets/{id}/comments.json` (§ 2), users side-loaded.

        Cursor pagination (`page[size]`, `page[after]`, `sort`) as § 2 recommends; its
        response envelope (`meta.has_more`, `meta.after_cursor`) is ASSUMED.
        """
        params: dict[str, str | int] = {"page[size]": COMMENT_PAGE, "include": "users"}
        params["sort"] = "-created_at" if newest_first else "created_at"
        if after is not None:
            params["page[after]"] = after
        what = f"read the comments of ticket {ticket_id}"
        path = f"/api/v2/tickets/{ticket_id}/comments.json"
        data = self.json_object(await self._request("GET", path, what, params=params), what)
        comments, users, meta = data.get("comments"), data.get("users"), data.get("meta")
        if not isinstance(comments, list):
            raise ConfigError(f"Zendesk answered {what} without a list of comments")
        meta = meta if isinstance(meta, dict) else {}
        cursor = meta.get("after_cursor")
        has_more = meta.get("has_more") is True and isinstance(cursor, str) and bool(cursor)
        return CommentPage(
            comments,
            users if isinstance(users, list) else [],
            cursor if has_more else None,
            has_more,
        )

    async def all_comments(self, ticket_id: int, *, newest_first: bool = False) -> CommentPage:
        """Every comment of a ticket, page after page (one `CommentPage`, no cursor)."""
        comments: list[Any] = []
        users: list[Any] = []
        after: str | None = None
        for _ in range(MAX_COMMENT_PAGES):
            page = await self.comments(ticket_id, after=after, newest_first=newest_first)
            comments += page.comments
            users += page.users
            if not page.has_more or page.after_cursor == after:
                return CommentPage(comments, users)
            after = page.after_cursor
        raise TransientError(
            f"Zendesk kept paging the comments of ticket {ticket_id}: more than "
            f"{MAX_COMMENT_PAGES} pages"
        )

    async def ticket(self, ticket_id: int) -> dict[str, Any]:
        """`GET /api/v2/tickets/{id}.json` → the ticket (endpoint ASSUMED, not in the contract)."""
        what = f"read ticket {ticket_id}"
        path = f"/api/v2/tickets/{ticket_id}.json"
        data = self.json_object(await self._request("GET", path, what), what)
        ticket = data.get("ticket")
        if not isinstance(ticket, dict):
            raise ConfigError(f"Zendesk answered {what} without a ticket")
        return ticket

    async def update_ticket(self, ticket_id: int, ticket: dict[str, Any], what: str) -> None:
        """`PUT /api/v2/tickets/{id}.json` (§ 3); the answer is not trusted as proof."""
        await self._request(
            "PUT", f"/api/v2/tickets/{ticket_id}.json", what, body={"ticket": ticket}
        )

    async def make_private(self, ticket_id: int, comment_id: int) -> None:
        """`PUT /api/v2/tickets/{id}/comments/{comment_id}/make_private` (§ 2)."""
        path = f"/api/v2/tickets/{ticket_id}/comments/{comment_id}/make_private"
        await self._request("PUT", path, f"make comment {comment_id} private")

    async def group(self, group_id: int) -> dict[str, Any]:
        """`GET /api/v2/groups/{id}.json` → the group (endpoint ASSUMED, not in the contract)."""
        what = f"read group {group_id}"
        path = f"/api/v2/groups/{group_id}.json"
        data = self.json_object(await self._request("GET", path, what), what)
        group = data.get("group")
        if not isinstance(group, dict):
            raise ConfigError(f"Zendesk answered {what} without a group")
        return group

    async def users(self, user_ids: list[int]) -> list[Any]:
        """`GET /api/v2/users/show_many.json?ids=…` (endpoint ASSUMED, not in the contract)."""
        what = "read users"
        params: dict[str, str | int] = {"ids": ",".join(str(i) for i in user_ids)}
        path = "/api/v2/users/show_many.json"
        data = self.json_object(await self._request("GET", path, what, params=params), what)
        users = data.get("users")
        return users if isinstance(users, list) else []
