"""The Zendesk connector: follows the incremental ticket export, writes comments back.

Section numbers are those of contracts/zendesk/README.md. The poll reads the cursor-based
incremental export (§ 1a; see `cursor.py` for the cursor and the one-minute lag), keeps
the tickets of the configured group (all of them without one), reads the comments of the
changed ones (§ 2) and compares their fields with the values it kept (`changes.py`).
Comments are written by updating the ticket with a `comment` whose `public` is always
set (§ 3), and read back. Webhooks are not received (the app has no endpoint for them);
`webhook.py` verifies their signature for when it does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

import httpx
from pydantic import ValidationError

from connectors.base import (
    AuthError,
    Capability,
    ChangePage,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    NotFound,
    TicketSnapshot,
    Visibility,
    WriteNotApplied,
)
from connectors.feed import Page
from connectors.http import Forbidden, first_request_failed
from connectors.zendesk.changes import Lookups, TicketTranslator
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.comments import newest_marked, with_marker
from connectors.zendesk.config import ZendeskConfig
from connectors.zendesk.cursor import Known, ZendeskCursor
from connectors.zendesk.mapping import PRIORITY_MAP, STATUS_MAP
from connectors.zendesk.models import ZendeskComment, ZendeskTicket
from connectors.zendesk.people import Directory
from connectors.zendesk.poll import comments_since, description_is_public, emit_ticket

MAX_EXPORTS = 3  # export requests per call (Zendesk allows 10 a minute, § 1a)
LAG = 60  # § 1a: start_time "must be at least one minute in the past"
_TICKET_ID = re.compile(r"^[1-9][0-9]{0,18}$")
ADMIN_HINT = (
    "Zendesk allows the incremental export to the Admin role only (§ 1a): give the "
    "account the Admin role (an Agent or Light Agent is refused)"
)


class ZendeskConnector(Connector):
    kind = "zendesk"
    display_name = "Zendesk"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
        }
    )
    required_secrets = ("email", "api_token")
    status_map: ClassVar[dict[str, NormalizedStatus]] = dict(STATUS_MAP)
    priority_map: ClassVar[dict[str, NormalizedPriority]] = dict(PRIORITY_MAP)

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.settings = ZendeskConfig.from_connector_config(config)
        self.client = ZendeskClient(http, self.settings.url, self.settings.authorization())
        self.directory = Directory(self.client)
        # Where "now" comes from for the export's first `start_time` (tests move it).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # --- health ------------------------------------------------------------------------

    async def check(self) -> Health:
        """Reachable, token accepted, export allowed (Admin), group known."""
        probe_start = int(self.clock().timestamp()) - LAG - 1
        try:
            await self.client.export(cursor=None, start_time=probe_start, per_page=1)
        except Forbidden as exc:
            return Health(True, True, False, f"{exc.message}; {ADMIN_HINT}")
        except NotFound:
            detail = (
                f"{self.settings.url} has no Zendesk incremental export: is it the subdomain URL?"
            )
            return Health(True, False, False, detail)
        except ConnectorError as exc:  # unreachable, throttled, 401, or not Zendesk
            return first_request_failed(exc)
        group_id = self.settings.group_id
        if group_id is None:
            identity = f"zendesk:{self.settings.url}:all"
            return Health(True, True, True, "incremental export OK; all groups", identity)
        try:
            group = await self.client.group(group_id)
        except NotFound:
            return Health(True, True, False, f"Zendesk has no group {group_id} (group_id)")
        except Forbidden as exc:
            return Health(True, True, False, f"{exc.message}; the account must be an agent")
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        if group.get("id") != group_id:  # an answer for another group would widen the scope
            return Health(True, True, False, f"Zendesk answered another group for {group_id}")
        identity = f"zendesk:{self.settings.url}:group:{group_id}"
        detail = f"incremental export OK; group {group.get('name')!r} ({group_id}) OK"
        return Health(True, True, True, detail, identity)

    # --- reading -----------------------------------------------------------------------

    def _translator(self) -> TicketTranslator:
        lookups = Lookups(
            people=self.directory.people,
            status_of=self.normalize_status,
            priority_of=self.normalize_priority,
            base_url=self.settings.url,
        )
        return TicketTranslator(lookups)

    def _in_scope(self, ticket: ZendeskTicket) -> bool:
        wanted = self.settings.group_id
        return wanted is None or ticket.group_id == wanted

    def _ticket(self, raw: object, notes: list[str]) -> ZendeskTicket | None:
        try:
            return ZendeskTicket.model_validate(raw)
        except ValidationError as exc:
            ticket_id = raw.get("id") if isinstance(raw, dict) else None
            notes.append(f"ticket {ticket_id!r}: skipped, malformed ({_first(exc)})")
            return None

    def _comment_list(self, raw: list[object], notes: list[str]) -> list[ZendeskComment]:
        found = []
        for item in raw:
            try:
                found.append(ZendeskComment.model_validate(item))
            except ValidationError as exc:
                comment_id = item.get("id") if isinstance(item, dict) else None
                notes.append(f"comment {comment_id!r}: skipped, malformed ({_first(exc)})")
        return found

    async def _comments_of(
        self, ticket: ZendeskTicket, known: Known | None, notes: list[str]
    ) -> tuple[list[ZendeskComment], bool]:
        """The comments the poll needs, and whether they are all of the ticket's.

        A known ticket with a mark is read newest first until the listing passes the mark;
        otherwise every comment is read (to know whether the description is public).
        """
        try:
            if known is None or known.mark is None:
                page = await self.client.all_comments(ticket.id)
                self.directory.learn(page.users)
                return self._comment_list(page.comments, notes), True
            found: list[ZendeskComment] = []
            after: str | None = None
            for _ in range(60):
                part = await self.client.comments(ticket.id, after=after, newest_first=True)
                self.directory.learn(part.users)
                found += self._comment_list(part.comments, notes)
                if not part.has_more or (found and comments_since(found, known.mark)):
                    return found, not part.has_more and after is None
                after = part.after_cursor
            return found, False
        except NotFound:  # a deleted ticket keeps no comments to read (ASSUMED)
            return [], False

    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next ≤100 changes, in the export's order (§ 1a)."""
        state = ZendeskCursor.parse(cursor)
        page = Page()
        for _ in range(MAX_EXPORTS):
            start = None if state.export is not None else state.start
            export = await self.client.export(cursor=state.export, start_time=start)
            for raw in export.tickets:
                ticket = self._ticket(raw, page.notes)
                if ticket is None:
                    continue
                known = state.known.get(ticket.id)
                in_scope = self._in_scope(ticket)
                if (known is None and not in_scope) or state.is_current(
                    ticket.id, ticket.generated_timestamp
                ):
                    continue
                if page.full:
                    return ChangePage(page.changes, state.dump(), True, page.notes)
                comments, complete = (
                    await self._comments_of(ticket, known, page.notes) if in_scope else ([], False)
                )
                await self.directory.resolve(
                    [ticket.requester_id, ticket.assignee_id] + [c.author_id for c in comments]
                )
                emitted = emit_ticket(
                    self._translator(),
                    ticket,
                    comments,
                    state,
                    page,
                    in_scope=in_scope,
                    all_comments=complete,
                )
                if not emitted:
                    return ChangePage(page.changes, state.dump(), True, page.notes)
            if export.after_cursor is not None:
                state.export = export.after_cursor
            if export.end_of_stream or export.after_cursor is None:
                return ChangePage(page.changes, state.dump(), False, page.notes)
            if page.changes:
                return ChangePage(page.changes, state.dump(), True, page.notes)
        return ChangePage(page.changes, state.dump(), True, page.notes)

    async def cursor_at(self, moment: datetime) -> str:
        """A cursor that starts the export at `moment` (at least a minute ago, § 1a)."""
        at = int(moment.timestamp())
        latest = int(self.clock().timestamp()) - LAG - 1
        return ZendeskCursor(start=max(1, min(at, latest)), floor=max(1, at)).dump()

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The ticket's current state."""
        ticket_id = _ticket_id(external_id)
        try:
            ticket = ZendeskTicket.model_validate(await self.client.ticket(ticket_id))
        except ValidationError as exc:
            raise ConnectorError(f"ticket {external_id}: malformed ({_first(exc)})") from None
        first = await self.client.comments(ticket_id)
        comments = self._comment_list(first.comments, [])
        await self.directory.resolve([ticket.requester_id, ticket.assignee_id])
        return self._translator().snapshot(
            ticket, description_public=description_is_public(comments)
        )

    # --- writing -----------------------------------------------------------------------

    async def _marked(
        self, ticket_id: int, idempotency_key: str, seen: set[int] | None = None
    ) -> tuple[ZendeskComment | None, set[int]]:
        """Our comment with this key, newest first; stops at comments in `seen`."""
        ids: set[int] = set()
        after: str | None = None
        for _ in range(60):
            part = await self.client.comments(ticket_id, after=after, newest_first=True)
            comments = self._comment_list(part.comments, [])
            ids |= {c.id for c in comments}
            fresh = [c for c in comments if seen is None or c.id not in seen]
            found = newest_marked(fresh, idempotency_key)
            if found is not None or not part.has_more or (seen and ids & seen):
                return found, ids
            after = part.after_cursor
        return None, ids

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        """Write a public comment or an internal note, read it back, return its id.

        `public` is always sent (Zendesk would otherwise reuse the ticket's first value,
        § 2): an internal note is never written without `"public": false`, and one that
        comes back public is made private again and reported.
        """
        ticket_id = _ticket_id(external_id)
        public = visibility is Visibility.PUBLIC
        existing, seen = await self._marked(ticket_id, idempotency_key)
        if existing is not None:  # an earlier attempt got through
            await self._check_visibility(ticket_id, existing, public)
            return str(existing.id)
        what = f"add {'a public comment' if public else 'an internal note'} to ticket {ticket_id}"
        comment = {"body": with_marker(body, idempotency_key), "public": public}
        try:
            await self.client.update_ticket(ticket_id, {"comment": comment}, what)
        except Forbidden as exc:
            raise AuthError(f"{exc.message}: the account must be an agent of this ticket") from None
        written, _ = await self._marked(ticket_id, idempotency_key, seen)
        if written is None:
            raise WriteNotApplied(
                f"Zendesk accepted the comment for ticket {ticket_id} but stored none: a "
                "trigger, an app or the ticket's state may have dropped it"
            )
        await self._check_visibility(ticket_id, written, public)
        return str(written.id)

    async def _check_visibility(
        self, ticket_id: int, comment: ZendeskComment, public: bool
    ) -> None:
        if comment.public == public:
            return
        if public:
            raise WriteNotApplied(
                f"Zendesk stored the public comment for ticket {ticket_id} as an internal "
                f"note (comment {comment.id})"
            )
        try:
            await self.client.make_private(ticket_id, comment.id)
        except ConnectorError as exc:
            raise WriteNotApplied(
                f"Zendesk stored the internal note for ticket {ticket_id} as PUBLIC (comment "
                f"{comment.id}) and refused to make it private ({exc.message}): remove it "
                "in Zendesk now"
            ) from None
        raise WriteNotApplied(
            f"Zendesk stored the internal note for ticket {ticket_id} as public (comment "
            f"{comment.id}); it was made private again, check who saw it"
        )


def _ticket_id(external_id: str) -> int:
    if not _TICKET_ID.fullmatch(external_id):
        raise NotFound(f"Zendesk has no ticket {external_id!r}")
    return int(external_id)


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'record'}: {error['msg']}"
