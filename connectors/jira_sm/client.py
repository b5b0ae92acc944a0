"""Thin async client for Jira Cloud's REST API v3 and the servicedeskapi: URLs, auth header,
paging, rate-limit headers and error mapping.

Section numbers are those of contracts/jira-sm/README.md. Every failure leaves this module
as one of the base taxonomy's errors, quoting Jira's `errorMessages` (§ 7) and never a
credential (they travel in a header, not in URLs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.base import ConfigError, TransientError, retry_after_seconds
from connectors.http import Params, Vendor, VendorClient

SEARCH_PAGE = 50  # `maxResults` default of /search/jql (§ 1a)
LIST_PAGE = 100  # changelog and request comments (§ 1c, § 2b)
# A listing that never ends (a server that keeps answering "not last") stops here.
MAX_PAGES = 500


def error_text(response: httpx.Response) -> str:
    """Jira's `errorMessages` and `errors` (§ 7), joined, or "" when there are none."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(m) for m in data.get("errorMessages") or [] if m]
    errors = data.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    if not parts and isinstance(data.get("errorMessage"), str):  # servicedeskapi (ASSUMED)
        parts.append(data["errorMessage"])
    return "; ".join(parts)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` seconds, else the time left until `X-RateLimit-Reset` (§ 6)."""
    seconds = retry_after_seconds(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    reset = response.headers.get("X-RateLimit-Reset", "")
    try:  # "yyyy-MM-ddTHH:mmZ"
        when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


VENDOR = Vendor(
    name="Jira",
    error_text=error_text,
    rejected="the credentials",
    auth_hint="the e-mail or the API token is wrong, or the token was revoked or has expired",
    redirect_hint="check the site URL",
    speaks="Jira's JSON",
    url_hint="the site URL (https://<site>.atlassian.net)",
    not_found="not found, or not visible to the account",
    retry_after=_retry_after,
    throttles_with_503=True,
)


class JiraClient(VendorClient):
    """REST calls for one site and account."""

    vendor = VENDOR

    async def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Params | None = None,
        body: object = None,
    ) -> httpx.Response:
        """One request; failures mapped (§ 6, § 7)."""
        url = f"{self.base_url}{path}"
        return await self.send(method, url, what, params=dict(params or {}), body=body)

    async def get_json(self, path: str, what: str, params: Params | None = None) -> dict[str, Any]:
        """A GET whose answer must be a JSON object (else: not a Jira site)."""
        return self.json_object(await self.request("GET", path, what, params=params), what)

    async def search(
        self, jql: str, fields: str, what: str, *, token: str | None = None, limit: int = 0
    ) -> tuple[list[Any], str | None]:
        """One page of `GET /rest/api/3/search/jql` (§ 1a) and the next page's token.

        The last page has no `nextPageToken` (or `isLast: true`); a page that says it is
        not the last but gives no token ends the listing rather than looping.
        """
        params: dict[str, str | int] = {
            "jql": jql,
            "fields": fields,
            "maxResults": limit or SEARCH_PAGE,
        }
        if token:
            params["nextPageToken"] = token
        data = await self.get_json("/rest/api/3/search/jql", what, params)
        issues = data.get("issues")
        if not isinstance(issues, list):
            raise ConfigError(f"Jira answered {what} without a list of issues")
        following = data.get("nextPageToken")
        if data.get("isLast") is True or not isinstance(following, str) or not following:
            following = None
        return issues, following

    async def offset_pages(
        self, path: str, what: str, *, values: str, style: str, params: Params | None = None
    ) -> list[Any]:
        """Every item of an offset-paged list.

        `style="platform"`: `startAt`/`maxResults`, ends on `isLast` or `total` (§ 1b, § 1c);
        `style="jsm"`: `start`/`limit`, ends on `isLastPage` (§ 2b).
        """
        start_key, limit_key = (
            ("startAt", "maxResults") if style == "platform" else ("start", "limit")
        )
        found: list[Any] = []
        start = 0
        for _ in range(MAX_PAGES):
            query = {**(params or {}), start_key: start, limit_key: LIST_PAGE}
            data = await self.get_json(path, what, query)
            page = data.get(values)
            if not isinstance(page, list):
                raise ConfigError(f"Jira answered {what} without a list of {values}")
            found += page
            if not page or _is_last(data, style, start, len(page)):
                return found
            start += len(page)
        raise TransientError(f"Jira kept paging ({what}): more than {MAX_PAGES} pages")


def _is_last(data: dict[str, Any], style: str, start: int, count: int) -> bool:
    if style == "jsm":
        return data.get("isLastPage") is not False
    if isinstance(data.get("isLast"), bool):
        return bool(data["isLast"])
    total = data.get("total")
    return not isinstance(total, int) or start + count >= total
