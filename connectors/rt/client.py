"""Thin async client for RT's REST 2 API: URLs, token header, paging, error mapping.

Every failure leaves this module as one of the base taxonomy's errors, with a message an
admin can act on and never the token (it travels in a header, not in URLs).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorError,
    NotFound,
    RateLimited,
    TransientError,
    retry_after_seconds,
)
from connectors.rt.models import TICKET_FIELDS, USER_FIELDS

# RT clamps `per_page` at 100 (default 20).
PAGE_SIZE = 100
Params = dict[str, str | int]


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("message", "")).strip()[:300] if isinstance(data, dict) else ""


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Map an RT HTTP failure onto the base taxonomy."""
    status = response.status_code
    if status < 300:
        return
    message = _message(response)
    if status == 401:
        raise AuthError("RT rejected the token (401): it is wrong, expired or revoked")
    if status == 403 or (status == 400 and message == "Permission Denied"):
        # RT answers a comment/correspond without the right with 400, not 403.
        raise AuthError(f"the token's user may not {what} ({status}: missing RT right)")
    if status == 404:
        raise NotFound(f"cannot {what}: not found (404)")
    if status == 429:
        raise RateLimited(
            f"RT is rate limiting ({what})",
            retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status == 408 or status >= 500:
        raise TransientError(f"RT failed to {what} ({status})")
    if status < 400:
        raise ConfigError(f"RT redirected {what} ({status}): check the URL (http/https, path)")
    raise ConnectorError(f"RT refused to {what} ({status}): {message}")


class RTClient:
    """RT REST 2 calls for one root URL and token."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._http = http
        self.base_url = base_url
        self.rest_url = f"{base_url}/REST/2.0"
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Params | None = None,
        body: object = None,
    ) -> Any:
        headers = dict(self._headers)
        content = None
        if method in ("POST", "PUT"):  # RT wants the type even without a body (else 415)
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode() if body is not None else b""
        try:
            response = await self._http.request(
                method, self.rest_url + path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException:
            raise TransientError(f"RT at {self.base_url} timed out ({what})") from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"cannot reach RT at {self.base_url} ({type(exc).__name__})"
            ) from None
        raise_for_status(response, what)
        try:
            return response.json()
        except ValueError:
            raise ConfigError(
                f"{self.base_url} did not answer {what} with RT REST 2 JSON: is it the RT root URL?"
            ) from None

    async def _get_dict(self, path: str, what: str, params: Params | None = None) -> dict[str, Any]:
        data = await self._request("GET", path, what, params=params)
        if not isinstance(data, dict):
            raise ConfigError(f"{self.base_url} answered {what} with unexpected JSON")
        return data

    async def version(self) -> str:
        """RT's version string (`GET /rt`); proves the URL and the token."""
        data = await self._get_dict("/rt", "read the RT version")
        return str(data.get("Version", "unknown"))

    async def queue(self, name: str) -> dict[str, Any]:
        """The configured queue; RT answers 403 for unknown names as for hidden ones."""
        try:
            return await self._get_dict(f"/queue/{quote(name, safe='')}", f"see queue {name!r}")
        except (NotFound, AuthError):
            raise ConfigError(
                f"RT queue {name!r} does not exist or the token's user may not see it (SeeQueue)"
            ) from None

    async def _page(self, path: str, what: str, params: Params) -> tuple[list[Any], bool | None]:
        """One page of a collection, and whether more pages follow (None: RT does not say).

        RT counts transaction collections only for SuperUsers and filters those pages after
        paging (short or even empty pages mid-way), so without a count callers read on.
        """
        data = await self._get_dict(path, what, params)
        items = data.get("items")
        if not isinstance(items, list):
            raise ConfigError(f"{self.base_url} answered {what} without items")
        page, pages = data.get("page"), data.get("pages")
        if isinstance(page, int) and isinstance(pages, int):
            return items, page < pages
        return items, None

    async def tickets(
        self, query: str, page: int = 1, per_page: int = PAGE_SIZE
    ) -> tuple[list[Any], bool | None]:
        """A page of tickets matching TicketSQL, with the fields a snapshot needs."""
        params: Params = {
            "query": query,
            "fields": TICKET_FIELDS,
            "fields[Owner]": USER_FIELDS,
            "fields[Requestor]": USER_FIELDS,
            "orderby": "id",
            "order": "ASC",
            "per_page": per_page,
            "page": page,
        }
        return await self._page("/tickets", "search tickets", params)

    async def transactions(
        self, query: str, page: int = 1, order: str = "ASC", per_page: int = PAGE_SIZE
    ) -> tuple[list[Any], bool | None]:
        """A page of transactions matching TransactionSQL, oldest first by default."""
        params: Params = {
            "query": query,
            "fields": "Type,Field,OldValue,NewValue,Created,Creator,ObjectId",
            "fields[Creator]": USER_FIELDS,
            "orderby": "id",
            "order": order,
            "per_page": per_page,
            "page": page,
        }
        return await self._page("/transactions", "search transactions", params)

    async def transaction_attachments(self, txn_id: int) -> list[Any]:
        """The MIME parts of one transaction, content as plain text."""
        params: Params = {"fields": "TransactionId,ContentType,Content", "per_page": PAGE_SIZE}
        items, _ = await self._page(
            f"/transaction/{txn_id}/attachments", f"read transaction #{txn_id}", params
        )
        return items

    async def ticket_attachments(self, ticket_id: str, page: int) -> list[Any]:
        """A page of a ticket's attachments, newest first, content as plain text."""
        params: Params = {
            "fields": "TransactionId,ContentType,Content",  # never `Parent`: RT answers 500
            "orderby": "id",
            "order": "DESC",
            "per_page": PAGE_SIZE,
            "page": page,
        }
        items, _ = await self._page(
            f"/ticket/{ticket_id}/attachments", f"read ticket #{ticket_id}", params
        )
        return items

    async def ticket_links(self, ticket_id: int) -> set[str]:
        """The `ref`s of a ticket's hyperlinks: what the token may do with it."""
        data = await self._get_dict(f"/ticket/{ticket_id}", f"read ticket #{ticket_id}")
        links = data.get("_hyperlinks", [])
        return {str(link.get("ref")) for link in links if isinstance(link, dict)}

    async def user(self, user_id: str) -> dict[str, Any] | None:
        """A user's Name, EmailAddress and RealName, or None if it cannot be read."""
        try:
            return await self._get_dict(f"/user/{user_id}", f"read user {user_id}")
        except (NotFound, AuthError):
            return None

    async def post_message(self, ticket_id: str, kind: str, content: str) -> list[str]:
        """`POST /ticket/<id>/correspond|comment`; returns RT's result messages."""
        body = {"Content": content, "ContentType": "text/plain"}
        data = await self._request(
            "POST", f"/ticket/{ticket_id}/{kind}", f"{kind} on ticket #{ticket_id}", body=body
        )
        return [str(m) for m in data] if isinstance(data, list) else []
