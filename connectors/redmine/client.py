"""Thin async client for Redmine's REST API: URLs, auth header, paging, error mapping.

Every failure leaves this module as one of the base taxonomy's errors, with a message an
admin can act on and never the API key (it travels in a header, not in URLs).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorError,
    NotFound,
    RateLimited,
    TransientError,
    retry_after_seconds,
)
from connectors.redmine.models import (
    CurrentUser,
    Project,
    Ref,
    StatusRef,
    redmine_timestamp,
)

M = TypeVar("M", bound=BaseModel)

# Redmine caps `limit` at 100 and reads 0 or a missing limit as 25.
PAGE_LIMIT = 100
# Redmine 5 refuses a file over its limit with 422 and says the limit in bytes:
# "This file cannot be uploaded because it exceeds the maximum allowed file size (5242880)".
_MAX_SIZE = re.compile(r"maximum allowed file size \((\d+)\)")


class UploadRefused(ConnectorError):
    """Redmine (or a proxy in front of it) refused one upload: 413, or 422 with a reason."""

    code = "file_refused"

    def __init__(self, message: str, max_bytes: int | None = None) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


def _server_date(response: httpx.Response) -> datetime:
    try:
        when = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _validation_errors(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors", [])
    except (ValueError, AttributeError):
        return ""
    return "; ".join(str(e) for e in errors)[:300]


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Map a Redmine HTTP failure onto the base taxonomy (bodies of 401/403/404 are empty)."""
    status = response.status_code
    if status < 300:
        return
    if status == 401:
        raise AuthError("Redmine rejected the API key (401): the key is wrong or revoked")
    if status == 403:
        raise AuthError(
            f"the API key's user may not {what} (403: missing permission, not a member of "
            "the project, or the REST API is disabled)"
        )
    if status == 404:
        raise NotFound(f"cannot {what}: not found (404)")
    if status == 429:
        raise RateLimited(
            f"Redmine is rate limiting ({what})",
            retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status == 408 or status >= 500:
        raise TransientError(f"Redmine failed to {what} ({status})")
    if status == 422:
        raise ConnectorError(f"Redmine refused to {what} (422): {_validation_errors(response)}")
    if status < 400:
        raise ConfigError(f"Redmine redirected {what} ({status}): check the URL (http/https)")
    raise ConnectorError(f"Redmine answered {status} to {what}")


class RedmineClient:
    """Redmine REST calls for one base URL and API key."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self._http = http
        self.base_url = base_url
        self._headers = {"X-Redmine-API-Key": api_key, "Accept": "application/json"}
        # The server's clock at the last response (its `Date` header), else ours.
        self.server_now: datetime = datetime.now(UTC)

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
        content: bytes | None = None,
        refusals: tuple[int, ...] = (),
    ) -> httpx.Response:
        headers = self._headers
        if content is not None:  # Redmine answers 406 to an upload of any other type
            headers = {**headers, "Content-Type": "application/octet-stream"}
        try:
            response = await self._http.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                content=content,
                headers=headers,
            )
        except httpx.TimeoutException:
            raise TransientError(f"Redmine at {self.base_url} timed out ({what})") from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"cannot reach Redmine at {self.base_url} ({type(exc).__name__})"
            ) from None
        self.server_now = _server_date(response)
        if response.status_code in refusals:
            return response
        raise_for_status(response, what)
        return response

    async def _get(
        self, path: str, what: str, params: dict[str, str | int] | None = None
    ) -> dict[str, Any]:
        response = await self._request("GET", path, what, params=params)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{self.base_url} did not answer {what} with Redmine JSON: is it the Redmine "
                "root URL, with the REST API enabled?"
            )
        return data

    async def current_user(self) -> CurrentUser:
        """The key's own user with its project memberships."""
        data = await self._get(
            "/users/current.json", "read its own account", {"include": "memberships"}
        )
        return _parse(CurrentUser, data.get("user"), "the current user")

    async def project(self, identifier: str) -> Project:
        """The configured project; a missing one is a configuration error."""
        what = f"read project {identifier!r}"
        try:
            data = await self._get(f"/projects/{identifier}.json", what)
        except NotFound:
            raise ConfigError(f"Redmine project {identifier!r} does not exist") from None
        return _parse(Project, data.get("project"), "the project")

    async def role_permissions(self, role_id: int) -> set[str] | None:
        """The permissions of one role, or None when this Redmine does not say."""
        try:
            data = await self._get(f"/roles/{role_id}.json", f"read role #{role_id}")
        except (NotFound, AuthError):
            return None
        permissions = (data.get("role") or {}).get("permissions")
        return {str(p) for p in permissions} if isinstance(permissions, list) else None

    async def statuses(self) -> list[StatusRef]:
        """Every issue status (id, name, is_closed)."""
        data = await self._get("/issue_statuses.json", "list issue statuses")
        return [_parse(StatusRef, s, "a status") for s in data.get("issue_statuses", [])]

    async def priorities(self) -> list[Ref]:
        """Every issue priority (id, name)."""
        data = await self._get("/enumerations/issue_priorities.json", "list priorities")
        return [_parse(Ref, p, "a priority") for p in data.get("issue_priorities", [])]

    async def list_issues(
        self, project: str, updated_since: datetime | None, offset: int
    ) -> tuple[list[Any], int]:
        """One page of the project's issues, oldest update first, closed ones included."""
        params: dict[str, str | int] = {
            "project_id": project,
            "status_id": "*",  # without it closed issues silently drop out of the poll
            "sort": "updated_on,id",
            "offset": offset,
            "limit": PAGE_LIMIT,
        }
        if updated_since is not None:
            params["updated_on"] = ">=" + redmine_timestamp(updated_since)
        data = await self._get("/issues.json", f"list issues of project {project!r}", params)
        issues = data.get("issues")
        total = data.get("total_count")
        if not isinstance(issues, list) or not isinstance(total, int):
            raise ConfigError(f"{self.base_url} answered the issue list without issues")
        return issues, total

    async def issue(self, issue_id: str | int) -> dict[str, Any]:
        """One issue with its journals, raw (the caller validates it)."""
        data = await self._get(
            f"/issues/{issue_id}.json", f"read issue #{issue_id}", {"include": "journals"}
        )
        issue = data.get("issue")
        if not isinstance(issue, dict):
            raise ConnectorError(f"Redmine answered issue #{issue_id} without an issue")
        return issue

    async def update_issue(self, issue_id: str | int, fields: dict[str, Any]) -> None:
        """`PUT /issues/<id>.json`; Redmine answers 204 even when it ignored the change."""
        await self._request(
            "PUT", f"/issues/{issue_id}.json", f"update issue #{issue_id}", body={"issue": fields}
        )

    async def upload(self, data: bytes, filename: str) -> str:
        """`POST /uploads.json`: the file's bytes; returns the token a PUT attaches it with.

        Raises `UploadRefused` when Redmine refuses the file (422: over its size limit or of
        an extension it does not allow) or a proxy in front of it does (413).
        """
        what = f"upload {filename!r}"
        response = await self._request(
            "POST",
            "/uploads.json",
            what,
            params={"filename": filename},
            content=data,
            refusals=(413, 422),
        )
        if response.status_code == 413:
            raise UploadRefused(
                f"Redmine refused {filename!r} ({len(data)} bytes) as too large (413)"
            )
        if response.status_code == 422:
            reason = _validation_errors(response)
            found = _MAX_SIZE.search(reason)
            raise UploadRefused(
                f"Redmine refused {filename!r} ({len(data)} bytes): {reason or '422'}",
                int(found.group(1)) if found else None,
            )
        try:
            token = response.json()["upload"]["token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ConnectorError(f"Redmine answered the upload of {filename!r} without a token")
        return token

    async def update_journal(self, journal_id: int, fields: dict[str, Any]) -> None:
        """`PUT /journals/<id>.json`; an empty note on a journal without details deletes it."""
        await self._request(
            "PUT",
            f"/journals/{journal_id}.json",
            f"edit journal #{journal_id}",
            body={"journal": fields},
        )

    async def user(self, user_id: int) -> dict[str, Any] | None:
        """A user's record (with `mail` for admin keys), or None if it cannot be read."""
        try:
            data = await self._get(f"/users/{user_id}.json", f"read user #{user_id}")
        except (NotFound, AuthError):  # groups, deleted or locked users
            return None
        user = data.get("user")
        return user if isinstance(user, dict) else None


def _parse(model: type[M], data: object, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError:
        raise ConfigError(f"Redmine answered with an unexpected shape for {what}") from None
