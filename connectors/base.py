"""The connector contract: what every ticketing-system adapter implements.

This module (and every connector package) imports only the standard library, httpx and
pydantic — never `app`. The sync engine in `app/sync/` is the only caller.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

NormalizedStatus = Literal["new", "open", "in_progress", "pending", "resolved", "closed"]
NormalizedPriority = Literal["P1", "P2", "P3", "P4"]
STATUSES: tuple[NormalizedStatus, ...] = (
    "new",
    "open",
    "in_progress",
    "pending",
    "resolved",
    "closed",
)
PRIORITIES: tuple[NormalizedPriority, ...] = ("P1", "P2", "P3", "P4")


class Capability(StrEnum):
    """What a connector can do; the sync engine and chat write-back check these."""

    READ_TICKETS = "read_tickets"
    READ_COMMENT_VISIBILITY = "read_comment_visibility"
    WRITE_PUBLIC_COMMENT = "write_public_comment"
    WRITE_INTERNAL_NOTE = "write_internal_note"
    WATCHERS = "watchers"
    WEBHOOKS = "webhooks"
    STATUS_CHANGE = "status_change"
    # Files travel with a *public* comment as the system's own attachments. Never with an
    # internal note: the caller keeps an internal message's files in Socialdesk.
    WRITE_FILES = "write_files"


# The payload key of a change Socialdesk itself wrote (its write-back idempotency key, read
# back from the marker): the sync engine counts such changes as own writes, never ingests them.
IDEMPOTENCY_KEY = "socialdesk_idempotency_key"


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class ChangeKind(StrEnum):
    """Normalized ticket changes; values are the domain event names of the design."""

    CREATED = "ticket.created"
    STATUS_CHANGED = "ticket.status_changed"
    ASSIGNED = "ticket.assigned"
    PRIORITY_CHANGED = "ticket.priority_changed"
    COMMENTED = "ticket.commented"
    RESOLVED = "ticket.resolved"
    REOPENED = "ticket.reopened"
    UPDATED = "ticket.updated"  # other field changes (title, description): timeline only


# The normalized statuses in which a ticket's work is over: every connector reports a move
# into one as RESOLVED and a move out of one as REOPENED, so followers hear the same thing
# whichever desk the ticket lives in.
DONE: frozenset[NormalizedStatus] = frozenset({"resolved", "closed"})


def status_kind(old: NormalizedStatus | None, new: NormalizedStatus) -> ChangeKind:
    """RESOLVED into resolved/closed, REOPENED out of them, STATUS_CHANGED otherwise."""
    if new in DONE:
        return ChangeKind.RESOLVED if old not in DONE else ChangeKind.STATUS_CHANGED
    return ChangeKind.REOPENED if old in DONE else ChangeKind.STATUS_CHANGED


# --- errors: every connector maps its vendor's failures onto these at the edge ---------


class ConnectorError(Exception):
    """Base of the taxonomy; `message` is safe to show to an admin (no secrets)."""

    code: ClassVar[str] = "connector_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthError(ConnectorError):
    """Credentials refused (401) or missing a permission (403): retrying will not help."""

    code = "auth_failed"


class ConfigError(ConnectorError):
    """The instance's settings are wrong (unknown project/queue, bad URL)."""

    code = "config_error"


class RateLimited(ConnectorError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """Network failure, timeout or 5xx: retry with backoff."""

    code = "transient"


class WriteNotApplied(ConnectorError):
    """The system acknowledged a write but reading it back shows it was ignored."""

    code = "write_not_applied"


class NotSupported(ConnectorError):
    code = "not_supported"


class NotFound(ConnectorError):
    """The record does not exist or is not visible to these credentials (404)."""

    code = "not_found"


class FileRefused(ConnectorError):
    """The system refused some of a comment's files (too large, a type it does not take).

    Raised before the comment is written, so nothing is on the ticket yet: the caller may
    write the text again without `refused`. `max_bytes` is the limit the system reported.
    """

    code = "file_refused"

    def __init__(
        self, message: str, refused: Sequence[FileToSend], max_bytes: int | None = None
    ) -> None:
        super().__init__(message)
        self.refused = tuple(refused)
        self.max_bytes = max_bytes


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse `Retry-After` (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def normalize_base_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports, query, fragment and trailing slashes."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = 443 if scheme == "https" else 80
    netloc = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


# --- normalized data ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    external_id: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    """The current state of one ticket as the ticketing system reports it."""

    external_id: str
    title: str
    status: NormalizedStatus
    raw_status: str
    priority: NormalizedPriority
    raw_priority: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    requester: Person | None = None
    assignee: Person | None = None
    service: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class TicketChange:
    """One change to one ticket, in the order it happened.

    `source_id` is unique within a connector instance and stable across polls: the sync
    engine stores each change once and drops repeats (overlap windows are safe).
    """

    source_id: str
    kind: ChangeKind
    ticket: TicketSnapshot
    occurred_at: datetime
    actor: Person | None = None
    visibility: Visibility = Visibility.PUBLIC
    body: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    external_comment_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


FileReader = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class FileToSend:
    """One file to attach to a comment: its bytes (or how to read them) and what they are.

    `content` is the bytes or an async reader called when the connector sends the file,
    so a message's files are not all held in memory while the first one uploads.
    """

    filename: str
    content_type: str
    size: int
    sha256: str  # hex, of the content
    content: bytes | FileReader = field(repr=False, compare=False)

    async def read(self) -> bytes:
        """The content, checked against `size` and `sha256` (a mismatch is a ValueError)."""
        data = self.content if isinstance(self.content, bytes) else await self.content()
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.sha256:
            raise ValueError(f"the content of {self.filename!r} is not the file described")
        return data


@dataclass(frozen=True, slots=True)
class ChangePage:
    """A page of changes and the cursor to resume from after it is committed."""

    changes: list[TicketChange]
    cursor: str | None
    has_more: bool = False
    # Items the connector skipped as malformed (one line each, safe to show an admin), so
    # a bad record is reported instead of stalling the instance.
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Health:
    reachable: bool
    authenticated: bool
    permissions_ok: bool
    detail: str = ""
    remote_identity: str | None = None

    @property
    def ok(self) -> bool:
        return self.reachable and self.authenticated and self.permissions_ok


# --- configuration ------------------------------------------------------------------------


class ConnectorConfig(BaseModel):
    """What an admin gives for an instance: `connectors add --url --secret --setting`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    settings: dict[str, str] = Field(default_factory=dict)

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if value is None or not value.get_secret_value():
            raise ConfigError(f"secret {name!r} is required")
        return value.get_secret_value()

    def status_overrides(self) -> dict[str, str]:
        prefix = "status_map."
        return {k[len(prefix) :]: v for k, v in self.settings.items() if k.startswith(prefix)}


class Connector(abc.ABC):
    """One configured ticketing system. Subclasses set the class attributes."""

    kind: ClassVar[str]
    display_name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    required_secrets: ClassVar[tuple[str, ...]] = ()
    required_settings: ClassVar[tuple[str, ...]] = ()
    needs_url: ClassVar[bool] = True
    status_map: ClassVar[Mapping[str, NormalizedStatus]]
    priority_map: ClassVar[Mapping[str, NormalizedPriority]]

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        missing = [s for s in self.required_secrets if s not in config.secrets]
        missing += [s for s in self.required_settings if not config.settings.get(s)]
        if missing:
            raise ConfigError(f"{self.kind}: missing {', '.join(missing)}")
        if self.needs_url and not config.url:
            raise ConfigError(f"{self.kind}: a URL is required")
        self.config = config
        self.http = http
        overrides = config.status_overrides()
        bad = {raw: norm for raw, norm in overrides.items() if norm not in STATUSES}
        if bad:
            raise ConfigError(f"status_map values must be one of {', '.join(STATUSES)}: {bad}")
        self._status_overrides: dict[str, NormalizedStatus] = {
            raw.casefold(): norm  # type: ignore[misc]
            for raw, norm in overrides.items()
        }

    @classmethod
    def create(cls, config: ConnectorConfig, http: httpx.AsyncClient) -> Connector:
        return cls(config, http)

    @classmethod
    def initial_settings(cls) -> dict[str, str]:
        """Settings filled in once when an instance is saved (admin values win)."""
        return {}

    def normalize_status(self, raw: str) -> NormalizedStatus:
        """Map a vendor status; instance overrides win, unknown values count as open."""
        key = raw.casefold()
        if key in self._status_overrides:
            return self._status_overrides[key]
        for name, value in self.status_map.items():
            if name.casefold() == key:
                return value
        return "open"

    def normalize_priority(self, raw: str) -> NormalizedPriority:
        key = raw.casefold()
        for name, value in self.priority_map.items():
            if name.casefold() == key:
                return value
        return "P3"

    @abc.abstractmethod
    async def check(self) -> Health:
        """Reachable, authenticated, permitted; `remote_identity` keys the instance."""

    @abc.abstractmethod
    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next page of changes after `cursor` (None: from the beginning)."""

    @abc.abstractmethod
    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The current state of one ticket."""

    @abc.abstractmethod
    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        """Add a public comment or internal note; returns the external comment id.

        Raises `WriteNotApplied` when the system silently ignored it.
        """

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[TicketChange]:
        """Verify and parse a pushed notification; connectors without webhooks refuse."""
        raise NotSupported(f"{self.kind} does not receive webhooks")


class _WritesFiles(Protocol):
    """`add_comment` of a connector that declares `WRITE_FILES`: `files` is keyword-only."""

    async def add_comment(
        self,
        external_id: str,
        body: str,
        visibility: Visibility,
        idempotency_key: str,
        *,
        files: Sequence[FileToSend] = (),
    ) -> str: ...


async def add_comment_with_files(
    connector: Connector,
    external_id: str,
    body: str,
    visibility: Visibility,
    idempotency_key: str,
    files: Sequence[FileToSend] = (),
) -> str:
    """`connector.add_comment`, with `files` for a connector that declares `WRITE_FILES`.

    A connector without it gets no files and is called as it always was (the signature
    without `files` stays valid); so do all connectors for an internal note, as files
    never travel with one. Raises `FileRefused` when the system refuses a file.
    """
    if (
        not files
        or visibility is not Visibility.PUBLIC
        or Capability.WRITE_FILES not in connector.capabilities
    ):
        return await connector.add_comment(external_id, body, visibility, idempotency_key)
    writer = cast(_WritesFiles, connector)
    return await writer.add_comment(external_id, body, visibility, idempotency_key, files=files)
