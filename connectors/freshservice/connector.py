"""The Freshservice connector: polls the tickets changed since a cursor, writes back.

Section numbers are those of contracts/freshservice/README.md. The poll lists tickets with
`updated_since` (§ 1; see `cursor.py` for the order, the overlap and ties), keeps those of
the configured workspace (all of them without one), reads the conversations of the changed
ones with their `private` flag (§ 2) and compares their fields with the values it kept
(`changes.py`). Public messages are written as replies and internal ones as notes with
`"private": true` (§ 3), then read back (`writing.py`). Webhooks are not received: they
are admin-defined Workflow Automator calls with no documented signature (§ 8).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, TypeVar

import httpx
from pydantic import ValidationError

from connectors.base import (
    Capability,
    ChangePage,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    NotFound,
    TicketSnapshot,
    Visibility,
)
from connectors.feed import Page
from connectors.freshservice.changes import Lookups, TicketTranslator
from connectors.freshservice.client import FreshserviceClient, Params
from connectors.freshservice.config import FreshserviceConfig
from connectors.freshservice.cursor import OVERLAP, FreshserviceCursor
from connectors.freshservice.mapping import PRIORITY_MAP, STATUS_MAP
from connectors.freshservice.models import Conversation, Ticket, first_error, wire_time
from connectors.freshservice.people import Directory
from connectors.freshservice.poll import emit_ticket
from connectors.freshservice.writing import write_comment
from connectors.http import Forbidden, first_request_failed

# § 1: without `updated_since` only tickets created in the last 30 days are listed, so a
# sync from the beginning asks for everything updated since this moment.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
# A listing read for one page of changes is reused by the next call of the same pass (the
# engine asks again at once while `has_more`), for at most this long.
REUSE_SECONDS = 60.0
# A listing that shows one ticket twice was paged while tickets changed: read it again.
RELISTS = 3
_TICKET_ID = re.compile(r"^[1-9][0-9]{0,18}$")
ROLE_HINT = (
    "give the agent a role that may view, reply to and add notes on tickets (Freshservice's "
    "built-in agent roles do; check Admin > Roles)"
)
T = TypeVar("T", Ticket, Conversation)


@dataclass
class _Listing:
    window: datetime | None
    tickets: list[Ticket]
    stable: bool
    read_at: float
    cursor_out: str = ""


class FreshserviceConnector(Connector):
    kind = "freshservice"
    display_name = "Freshservice"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
        }
    )
    required_secrets = ("api_key",)
    status_map: ClassVar[dict[str, NormalizedStatus]] = dict(STATUS_MAP)
    priority_map: ClassVar[dict[str, NormalizedPriority]] = dict(PRIORITY_MAP)

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.settings = FreshserviceConfig.from_connector_config(config)
        self.client = FreshserviceClient(http, self.settings.url, self.settings.authorization())
        self.directory = Directory(self.client)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.monotonic: Callable[[], float] = time.monotonic
        self._listing: _Listing | None = None

    # --- health ------------------------------------------------------------------------

    async def check(self) -> Health:
        """Reachable, key accepted, tickets readable, workspace known."""
        since = wire_time(self.clock() - timedelta(minutes=5))
        params: Params = {"updated_since": since, "per_page": 1}
        try:
            response = await self.client.request("GET", "/tickets", "list tickets", params=params)
            probe = self.client.json_object(response, "list tickets")
            if not isinstance(probe.get("tickets"), list):
                raise ConfigError(
                    f"{self.settings.url} answered the ticket list without tickets: is it the "
                    "Freshservice domain URL?"
                )
        except Forbidden as exc:
            return Health(True, True, False, f"{exc.message}; {ROLE_HINT}")
        except NotFound:
            detail = f"{self.settings.url} has no Freshservice API v2: is it the domain URL?"
            return Health(True, False, False, detail)
        except ConnectorError as exc:  # unreachable, throttled, 401, or not Freshservice
            return first_request_failed(exc)
        workspace_id = self.settings.workspace_id
        if workspace_id is None:
            identity = f"freshservice:{self.settings.url}:all"
            return Health(True, True, True, "tickets readable; all workspaces", identity)
        what = f"read workspace {workspace_id}"
        try:
            workspace = await self.client.get_object(
                f"/workspaces/{workspace_id}", what, "workspace"
            )
        except NotFound:
            detail = f"Freshservice has no workspace {workspace_id} (workspace_id)"
            return Health(True, True, False, detail)
        except Forbidden as exc:
            return Health(True, True, False, f"{exc.message}; {ROLE_HINT}")
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        if workspace.get("id") != workspace_id:  # another workspace would widen the scope
            detail = f"Freshservice answered another workspace for {workspace_id}"
            return Health(True, True, False, detail)
        identity = f"freshservice:{self.settings.url}:workspace:{workspace_id}"
        detail = f"tickets readable; workspace {workspace.get('name')!r} ({workspace_id}) OK"
        return Health(True, True, True, detail, identity)

    # --- reading -----------------------------------------------------------------------

    def _translator(self) -> TicketTranslator:
        lookups = Lookups(
            person=self.directory.person,
            status_of=self.normalize_status,
            priority_of=self.normalize_priority,
            base_url=self.settings.url,
        )
        return TicketTranslator(lookups)

    def _in_scope(self, ticket: Ticket, notes: list[str]) -> bool:
        """In the workspace: a query part Freshservice ignored cannot widen the scope."""
        wanted = self.settings.workspace_id
        if wanted is None or ticket.workspace_id == wanted:
            return True
        if ticket.workspace_id is None:
            notes.append(f"ticket {ticket.id}: skipped, Freshservice gave no workspace_id")
        return False

    async def _list(self, window: datetime | None, notes: list[str]) -> _Listing:
        """The tickets updated since `window`, ordered by (`updated_at`, `id`)."""
        params: Params = {"updated_since": wire_time(window or BEGINNING)}
        if self.settings.workspace_id is not None:
            params["workspace_id"] = self.settings.workspace_id  # ASSUMED filter; checked
        stable = False
        tickets: list[Ticket] = []
        for _ in range(RELISTS):
            listing = await self.client.listing("/tickets", "list tickets", "tickets", params)
            valid = _valid(Ticket, listing.items, "ticket", notes)
            newest: dict[int, Ticket] = {}
            for ticket in valid:
                kept = newest.get(ticket.id)
                if kept is None or ticket.updated_at > kept.updated_at:
                    newest[ticket.id] = ticket
            tickets = list(newest.values())
            if len(newest) == len(valid):
                stable = True
                break
        in_scope = [t for t in tickets if self._in_scope(t, notes)]
        if window is not None:  # an ignored `updated_since` must not re-read the past
            in_scope = [t for t in in_scope if t.updated_at >= window]
        in_scope.sort(key=lambda t: t.position)
        return _Listing(window, in_scope, stable, self.monotonic())

    async def _listing_for(
        self, cursor: str | None, window: datetime | None, notes: list[str]
    ) -> _Listing:
        cached = self._listing
        if (
            cached is not None
            and cursor is not None
            and cursor == cached.cursor_out
            and self.monotonic() - cached.read_at < REUSE_SECONDS
        ):
            return cached
        return await self._list(window, notes)

    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next ≤100 changes, tickets in (`updated_at`, `id`) order."""
        state = FreshserviceCursor.parse(cursor)
        page = Page()
        window = state.window_start()
        listing = await self._listing_for(cursor, window, page.notes)
        since, after = state.since, state.after
        has_more = False
        for ticket in listing.tickets:
            if window is not None and ticket.updated_at < window:
                continue
            if not state.is_current(ticket.id, ticket.updated_at):
                if page.full:
                    has_more = True
                    break
                conversations = await self.conversations(ticket.id, page.notes)
                await self.directory.resolve(
                    [ticket.requester_id, ticket.responder_id] + [c.user_id for c in conversations]
                )
                if not emit_ticket(self._translator(), ticket, conversations, state, page):
                    has_more = True
                    break
            state.advance(ticket.updated_at, ticket.id)
        if not listing.stable:
            # Tickets moved while the listing was paged, so one may have slipped between
            # two pages: keep the position, the next poll reads the same window again.
            state.since, state.after = since, after
            page.notes.append("the ticket listing changed while it was read; read again next")
        out = state.dump()
        listing.cursor_out = out if has_more else ""
        self._listing = listing if has_more else None
        return ChangePage(page.changes, out, has_more, page.notes)

    async def cursor_at(self, moment: datetime) -> str:
        """A cursor that starts at `moment`: what was updated before it is not mirrored."""
        return FreshserviceCursor(since=moment.astimezone(UTC) + OVERLAP).dump()

    async def conversations(self, ticket_id: int, notes: list[str]) -> list[Conversation]:
        """The ticket's replies and notes (§ 2), every page; a deleted ticket has none."""
        try:
            listing = await self.client.listing(
                f"/tickets/{ticket_id}/conversations",
                f"read the conversations of ticket {ticket_id}",
                "conversations",
            )
        except NotFound:
            return []
        found = _valid(Conversation, listing.items, f"ticket {ticket_id} conversation", notes)
        # A conversation of another ticket (an ignored path part) is not this ticket's.
        return [c for c in found if c.ticket_id in (None, ticket_id)]

    async def _find(self, external_id: str) -> Ticket:
        if not _TICKET_ID.fullmatch(external_id):
            raise NotFound(f"Freshservice has no ticket {external_id!r}")
        what = f"read ticket {external_id}"
        raw = await self.client.get_object(f"/tickets/{external_id}", what, "ticket")
        try:
            ticket = Ticket.model_validate(raw)
        except ValidationError as exc:
            raise ConnectorError(f"ticket {external_id}: malformed ({first_error(exc)})") from None
        if ticket.id != int(external_id) or not self._in_scope(ticket, []):
            raise NotFound(f"the workspace has no ticket {external_id!r}")
        return ticket

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The ticket's current state (`GET /api/v2/tickets/{id}`, ASSUMED path)."""
        ticket = await self._find(external_id)
        await self.directory.resolve([ticket.requester_id, ticket.responder_id])
        return self._translator().snapshot(ticket)

    # --- writing -----------------------------------------------------------------------

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        """A public reply or a private note (`private` explicit), read back; its id."""
        ticket = await self._find(external_id)
        return await write_comment(self, ticket.id, body, visibility, idempotency_key)


def _valid(model: type[T], rows: list[object], label: str, notes: list[str]) -> list[T]:
    found = []
    for row in rows:
        try:
            found.append(model.model_validate(row))
        except ValidationError as exc:
            item_id = row.get("id") if isinstance(row, dict) else None
            notes.append(f"{label} {item_id!r}: skipped, malformed ({first_error(exc)})")
    return found
