"""The HTTP edge the ServiceNow, Jira SM, Zendesk and Freshservice clients share.

Their failures map onto the base taxonomy the same way (401 → `AuthError`, 403 →
`Forbidden`, 404 → `NotFound`, 429 → `RateLimited`, 400/422 → `InvalidRequest`, 408/5xx →
`TransientError`, 3xx → `ConfigError`, anything else → `ConnectorError`), and their
requests fail the same way on the network. What differs is the vendor's name, how it words
an error body and what an admin should check; a `Vendor` carries those, so each client
keeps its own sentences while the mapping lives once. Only stdlib, httpx, pydantic and
`connectors.base` are imported here, as in every connector (CONVENTIONS.md § Connectors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorError,
    Health,
    NotFound,
    RateLimited,
    TransientError,
    retry_after_seconds,
)

Params = Mapping[str, str | int]


class Forbidden(AuthError):
    """403: the account lacks the vendor permission (role, ACL) for what it tried."""


class InvalidRequest(ConnectorError):
    """400 (or 422 where the vendor uses it): the vendor refused the request itself."""

    code = "invalid_request"


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` alone; vendors with a reset header of their own pass a richer one."""
    return retry_after_seconds(response.headers.get("Retry-After"))


@dataclass(frozen=True, slots=True)
class Vendor:
    """One vendor's name and its own sentences for the failures `raise_for_status` maps.

    The messages read, with `quoted` the vendor's own words (": …", or nothing):
    401 "<name> rejected <rejected> (401<quoted>): <auth_hint>",
    403 "the <actor> may not <what> (403<quoted>)",
    404 "cannot <what>: <not_found> (404<quoted>)",
    3xx "<name> redirected <what> (<status>): <redirect_hint>", and a JSON answer that is
    not the vendor's "<base_url> did not answer with <speaks> (<what>): is it <url_hint>?".
    """

    name: str
    error_text: Callable[[httpx.Response], str]
    rejected: str
    auth_hint: str
    redirect_hint: str
    speaks: str
    url_hint: str
    actor: str = "account"
    not_found: str = "not found"
    invalid_statuses: frozenset[int] = frozenset({400})
    retry_after: Callable[[httpx.Response], float | None] = retry_after
    # Jira also throttles with a 503 carrying `Retry-After` (its § 6); as two statuses can
    # then mean "slow down", its message names which one came.
    throttles_with_503: bool = False

    def raise_for_status(self, response: httpx.Response, what: str) -> None:
        """Map an HTTP failure onto the base taxonomy; a 2xx returns."""
        status = response.status_code
        if status < 300:
            return
        said = self.error_text(response)
        quoted = f": {said}" if said else ""
        name = self.name
        if status == 401:
            raise AuthError(f"{name} rejected {self.rejected} (401{quoted}): {self.auth_hint}")
        if status == 403:
            raise Forbidden(f"the {self.actor} may not {what} (403{quoted})")
        if status == 404:
            raise NotFound(f"cannot {what}: {self.not_found} (404{quoted})")
        if status == 429 or (
            self.throttles_with_503 and status == 503 and "Retry-After" in response.headers
        ):
            named = f", {status}" if self.throttles_with_503 else ""
            retry = self.retry_after(response)
            raise RateLimited(f"{name} is rate limiting ({what}{named}){quoted}", retry)
        if status in self.invalid_statuses:
            raise InvalidRequest(f"{name} refused to {what} ({status}{quoted})")
        if status == 408 or status >= 500:
            raise TransientError(f"{name} failed to {what} ({status}{quoted})")
        if status < 400:
            raise ConfigError(f"{name} redirected {what} ({status}): {self.redirect_hint}")
        raise ConnectorError(f"{name} answered {status} to {what}{quoted}")


class VendorClient:
    """An authorized httpx client for one vendor instance: sending and JSON checks.

    Subclasses set `vendor` and build their URLs; credentials travel only in the
    `Authorization` header, so no message here can carry one.
    """

    vendor: ClassVar[Vendor]

    def __init__(self, http: httpx.AsyncClient, base_url: str, authorization: str) -> None:
        self._http = http
        self.base_url = base_url
        self._headers = {"Authorization": authorization, "Accept": "application/json"}

    async def send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: Params | None = None,
        body: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request to `url`; network failures are transient, HTTP ones are mapped.

        `body` goes as JSON; `content` is for a vendor that encodes its own body.
        """
        name = self.vendor.name
        try:
            response = await self._http.request(
                method,
                url,
                params=params,
                json=body,
                content=content,
                headers=headers if headers is not None else self._headers,
            )
        except httpx.TimeoutException:
            raise TransientError(f"{name} at {self.base_url} timed out ({what})") from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"cannot reach {name} at {self.base_url} ({type(exc).__name__})"
            ) from None
        self.vendor.raise_for_status(response, what)
        return response

    def json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The answer's JSON object; anything else means the URL is not the vendor's API."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self.not_the_api(what)
        return data

    def not_the_api(self, what: str) -> ConfigError:
        """The refusal for an answer that is not the vendor's API (a wrong URL, mostly)."""
        return ConfigError(
            f"{self.base_url} did not answer with {self.vendor.speaks} ({what}): "
            f"is it {self.vendor.url_hint}?"
        )


def first_request_failed(exc: ConnectorError) -> Health:
    """The health a `check()` reports when its first request fails for a reason every vendor
    shares: unreachable (network, timeout, 5xx), throttled, or refused (401, not the API).

    Vendor-specific failures (a missing role, an unknown table) are caught before this.
    """
    if isinstance(exc, TransientError):
        return Health(False, False, False, exc.message)
    if isinstance(exc, RateLimited):
        wait = f"in {exc.retry_after:.0f} s" if exc.retry_after is not None else "later"
        return Health(True, False, False, f"{exc.message}; try the check again {wait}")
    return Health(True, False, False, exc.message)
