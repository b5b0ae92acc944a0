"""Thin async client for Freshservice API v2: URLs, auth header, paging, error mapping.

Section numbers are those of contracts/freshservice/README.md. Lists are paged with `page`
and `per_page` (≤ 100, § 0) and the next page is advertised in a `Link` header (§ 1); it is
followed only within the same domain and API path, so the key is never sent elsewhere.
Every failure leaves this module as one of the base taxonomy's errors, with Freshservice's
own words when it gave some (the error body is not captured, § 7: `description`/`message`
and `errors[]` are read when present) and never the key (it travels in a header).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectors.base import ConfigError, TransientError
from connectors.http import Vendor, VendorClient

PER_PAGE = 100  # § 0: "Support for page sizes up to 100"
# A listing that never ends (a server ignoring `page`) stops here.
MAX_PAGES = 100
Params = dict[str, str | int]


@dataclass(frozen=True, slots=True)
class Listing:
    """Every item of a paged list, and what the pages' rate-limit headers said."""

    items: list[Any]
    pages: int
    headers: dict[str, str] = field(default_factory=dict)


def error_text(response: httpx.Response) -> str:
    """Freshservice's own words: `description`/`message` and `errors[]` (shape ASSUMED)."""
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        return text.splitlines()[0][:300] if text else ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data[k]) for k in ("description", "message", "error") if data.get(k)]
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            said = ": ".join(str(item[k]) for k in ("field", "message") if item.get(k))
            if said:
                parts.append(said)
    return "; ".join(parts)[:300]


VENDOR = Vendor(
    name="Freshservice",
    error_text=error_text,
    rejected="the API key",
    auth_hint=(
        "copy the key again from the agent's Profile Settings, and check that the agent is active"
    ),
    redirect_hint=(
        "check the URL (https://<domain>.freshservice.com; custom CNAMEs are not served by the API)"
    ),
    speaks="Freshservice API JSON",
    url_hint="the domain URL (https://<domain>.freshservice.com)",
    actor="agent",
    invalid_statuses=frozenset({400, 422}),
)


def next_link(header: str) -> str | None:
    """The URL of the `Link` header's next page (`<url>; rel="next"`, or a lone `<url>`).

    § 1: the exact header text was not captured; the client in [F3] follows the `<…>` URL
    until the header is absent. A header naming other relations but no `next` has none.
    """
    links: list[tuple[str, str]] = []
    for part in header.split(","):
        url, _, params = part.strip().partition(">")
        if not url.startswith("<"):
            continue
        rel = ""
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "rel":
                rel = value.strip().strip('"').lower()
        links.append((url[1:].strip(), rel))
    for url, rel in links:
        if "next" in rel.split():
            return url
    if len(links) == 1 and not links[0][1]:
        return links[0][0]
    return None


class FreshserviceClient(VendorClient):
    """API v2 calls for one domain and API key."""

    vendor = VENDOR

    async def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Params | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """One request to `<base>/api/v2<path>`; failures mapped (§ 6, § 7)."""
        url = f"{self.base_url}/api/v2{path}"
        return await self.send(method, url, what, params=params, body=body)

    async def get_object(self, path: str, what: str, key: str) -> dict[str, Any]:
        """A GET answering `{"<key>": {…}}` (wrapper ASSUMED) or the bare object."""
        data = self.json_object(await self.request("GET", path, what), what)
        inner = data.get(key, data)
        if not isinstance(inner, dict) or "id" not in inner:
            raise ConfigError(f"Freshservice answered {what} without a {key}")
        return inner

    async def listing(
        self, path: str, what: str, key: str, params: Params | None = None
    ) -> Listing:
        """Every item of a paged list `{"<key>": […]}` (§ 1, § 2), following `Link`."""
        query: Params = {**(params or {}), "per_page": PER_PAGE, "page": 1}
        url: str | None = None
        items: list[Any] = []
        seen: set[str] = set()
        headers: dict[str, str] = {}
        for pages in range(1, MAX_PAGES + 1):
            if url is None:
                response = await self.request("GET", path, what, params=query)
            else:
                response = await self._follow(url, path, what, query)
            headers = {
                k.lower(): v for k, v in response.headers.items() if "ratelimit" in k.lower()
            }
            data = self.json_object(response, what)
            page = data.get(key)
            if not isinstance(page, list):
                raise ConfigError(f"Freshservice answered {what} without a list of {key}")
            items += page
            following = next_link(response.headers.get("Link", ""))
            if not page or following is None:
                return Listing(items, pages, headers)
            if following in seen:  # a Link that points back would loop forever
                raise TransientError(f"Freshservice's next page repeats itself ({what})")
            seen.add(following)
            url = following
        raise TransientError(f"Freshservice kept paging ({what}): more than {MAX_PAGES} pages")

    async def _follow(self, url: str, path: str, what: str, query: Params) -> httpx.Response:
        """The next page, if its URL is this domain's same list (else a ConfigError).

        The link's page is taken with the listing's own filters, so a link that forgot one
        (`updated_since`, `workspace_id`) cannot widen or shift what is read.
        """
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc) or (
            target.path.rstrip("/") != f"{base.path}/api/v2{path}"
        ):
            raise ConfigError(
                f"Freshservice's next page for {what} points elsewhere ({target.netloc}"
                f"{target.path}); it is not followed with the API key"
            )
        params: Params = dict(parse_qsl(target.query, keep_blank_values=True))
        params.update({k: v for k, v in query.items() if k != "page"})
        return await self.request("GET", path, what, params=params)
