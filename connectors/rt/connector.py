"""The Request Tracker connector: follows a queue's transactions, writes replies back.

The poll reads the queue's ticket transactions by id (a monotonic cursor, see `cursor.py`)
and turns each into one change (see `changes.py`); snapshots come from one ticket search
per page, message bodies from each message's attachments.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connectors.base import (
    Capability,
    ChangePage,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    NotFound,
    Person,
    TicketChange,
    TicketSnapshot,
    TransientError,
    Visibility,
    WriteNotApplied,
)
from connectors.rt.changes import MESSAGE_TYPES, TYPES, Lookups, TransactionTranslator
from connectors.rt.client import RTClient
from connectors.rt.comments import has_marker, with_marker
from connectors.rt.config import RTConfig
from connectors.rt.cursor import RTCursor
from connectors.rt.mapping import PRIORITY_LABELS, STATUS_MAP, priority_from_number
from connectors.rt.models import (
    NOBODY,
    Attachment,
    Ticket,
    Transaction,
    message_text,
    quote,
    rt_timestamp,
)

M = TypeVar("M", bound=BaseModel)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CHANGES = 100  # per page: one transaction is at most one change
# The link RT puts on a ticket for each write the token's user may do, and the right.
WRITE_LINKS = (("correspond", "ReplyToTicket"), ("comment", "CommentOnTicket"))


class RTConnector(Connector):
    kind = "rt"
    display_name = "Request Tracker"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
        }
    )
    required_secrets = ("token",)
    required_settings = ("queue",)
    status_map: ClassVar[dict[str, NormalizedStatus]] = dict(STATUS_MAP)
    priority_map: ClassVar[dict[str, NormalizedPriority]] = dict(PRIORITY_LABELS)

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.settings = RTConfig.from_connector_config(config)
        self.client = RTClient(http, self.settings.url, self.settings.token.get_secret_value())
        self._queue_name: str | None = None
        self._people: dict[str, Person | None] = {}
        self._descriptions: dict[int, str] = {}

    def normalize_priority(self, raw: str) -> NormalizedPriority:
        """RT priorities are numbers: map them by band (see `mapping.py`)."""
        return priority_from_number(raw) or super().normalize_priority(raw)

    # --- health ------------------------------------------------------------------------

    async def check(self) -> Health:
        """Reachable, token accepted, queue visible, and reply/comment rights on its tickets."""
        try:
            version = await self.client.version()
        except TransientError as exc:
            return Health(False, False, False, exc.message)
        except ConnectorError as exc:
            return Health(True, False, False, exc.message)
        try:
            queue = await self.client.queue(self.settings.queue)
            identity = f"rt:{self.settings.url}:queue:{int(queue['id'])}"
            self._queue_name = str(queue["Name"])
            missing = await self._missing_rights(self._queue_name)
        except (KeyError, ValueError, TypeError):
            return Health(True, True, False, "RT answered the queue without its id and Name")
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        name = self._queue_name
        if missing is None:
            detail = f"RT {version}, queue {name!r} (no visible ticket to test write rights on)"
            return Health(True, True, True, detail, identity)
        if missing:
            detail = f"the token's user lacks RT rights in queue {name!r}: " + ", ".join(missing)
            return Health(True, True, False, detail, identity)
        return Health(True, True, True, f"RT {version}, queue {name!r} OK", identity)

    async def _missing_rights(self, queue_name: str) -> list[str] | None:
        """Rights the token lacks on a ticket of the queue (None: it sees no ticket to ask)."""
        query = f"Queue = {quote(queue_name)}"
        items, _ = await self.client.tickets(query, per_page=1)
        if not items or not isinstance(items[0], dict):
            return None
        links = await self.client.ticket_links(int(items[0]["id"]))
        return [right for ref, right in WRITE_LINKS if ref not in links]

    async def _queue(self) -> str:
        if self._queue_name is None:
            queue = await self.client.queue(self.settings.queue)
            self._queue_name = str(queue.get("Name") or self.settings.queue)
        return self._queue_name

    # --- reading -----------------------------------------------------------------------

    async def cursor_at(self, moment: datetime) -> str:
        """A cursor that starts at `moment` instead of the beginning of the queue's history."""
        query = (
            f"ObjectType = 'RT::Ticket' AND TicketQueue = {quote(await self._queue())}"
            f" AND Created < '{rt_timestamp(moment)}'"
        )
        items, _ = await self.client.transactions(query, order="DESC")
        ids = [int(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
        return RTCursor(after=max(ids, default=0)).dump()

    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next ≤100 changes: the queue's ticket transactions in id order."""
        state = RTCursor.parse(cursor)
        notes: list[str] = []
        txns, has_more = await self._next_transactions(state, notes)
        tickets = await self._tickets({t.ObjectId for t in txns}, notes)
        lookups = await self._lookups(txns, tickets)
        translator = TransactionTranslator(lookups)
        snaps = {ticket_id: translator.snapshot(t) for ticket_id, t in tickets.items()}
        changes: list[TicketChange] = []
        for txn in txns:
            state.emitted(txn.id, txn.Created)
            if txn.ObjectId not in snaps:
                continue  # noted by `_tickets`
            change = translator.change(txn, snaps[txn.ObjectId])
            if change is not None:
                changes.append(change)
        return ChangePage(changes, state.dump(), has_more, notes)

    async def _next_transactions(
        self, state: RTCursor, notes: list[str]
    ) -> tuple[list[Transaction], bool]:
        """Up to MAX_CHANGES unseen transactions, and whether more are ready."""
        types = " OR ".join(f"Type = '{t}'" for t in TYPES)
        query = (
            f"ObjectType = 'RT::Ticket' AND TicketQueue = {quote(await self._queue())}"
            f" AND id > {state.after} AND ({types})"
        )
        found: list[Transaction] = []
        malformed: set[int] = set()
        taken: set[int] = set()
        page, has_more = 1, False
        while not has_more:
            items, more = await self.client.transactions(query, page)
            for raw in items:
                ids = _raw_id(raw)
                if not all(state.is_new(i) and i not in taken for i in ids):
                    continue  # emitted (or skipped and noted) before, or a page shifted
                if len(found) == MAX_CHANGES:
                    has_more = True
                    break
                txn = _validate(Transaction, raw, notes, "transaction")
                if txn is None:
                    malformed |= _raw_id(raw)
                else:
                    found.append(txn)
                    taken.add(txn.id)
            if not items or more is False:
                break
            page += 1
        # A malformed transaction counts as done (dated like its neighbours), not to stall.
        latest = max([t.Created for t in found] + list(state.seen.values()), default=EPOCH)
        for txn_id in sorted(t for t in malformed if state.is_new(t)):
            state.emitted(txn_id, latest)
        return found, has_more

    async def _tickets(self, ticket_ids: set[int], notes: list[str]) -> dict[int, Ticket]:
        """Current state of the given tickets, in one search per 100."""
        found: dict[int, Ticket] = {}
        ordered = sorted(ticket_ids)
        for start in range(0, len(ordered), 100):
            query = " OR ".join(f"id = {i}" for i in ordered[start : start + 100])
            items, _ = await self.client.tickets(query)
            for raw in items:
                ticket = _validate(Ticket, raw, notes, "ticket")
                if ticket is not None:
                    found[ticket.id] = ticket
        for missing in sorted(ticket_ids - found.keys()):
            notes.append(f"ticket #{missing}: not readable now; its transactions were skipped")
        return found

    async def _lookups(self, txns: list[Transaction], tickets: dict[int, Ticket]) -> Lookups:
        messages = {t.id: await self._message(t.id) for t in txns if t.Type in MESSAGE_TYPES}
        for txn in txns:
            if txn.Type == "Create":
                self._descriptions[txn.ObjectId] = messages[txn.id]
        await self._load_descriptions(set(tickets) - self._descriptions.keys())
        owners = {
            v
            for t in txns
            if t.Type == "Set" and t.Field == "Owner"
            for v in (t.OldValue, t.NewValue)
            if v
        }
        for user_id in sorted(owners - self._people.keys()):
            self._people[user_id] = await self._person(user_id)
        return Lookups(
            people=self._people,
            descriptions=self._descriptions,
            messages=messages,
            status_of=self.normalize_status,
            priority_of=self.normalize_priority,
            base_url=self.settings.url,
        )

    async def _message(self, txn_id: int) -> str:
        items = await self.client.transaction_attachments(txn_id)
        parts = [a for a in (_validate(Attachment, i, [], "") for i in items) if a is not None]
        return message_text(parts)

    async def _load_descriptions(self, ticket_ids: set[int]) -> None:
        """A ticket's description is its first message: the `Create` transaction's."""
        if not ticket_ids:
            return
        objects = " OR ".join(f"ObjectId = {i}" for i in sorted(ticket_ids))
        query = f"ObjectType = 'RT::Ticket' AND Type = 'Create' AND ({objects})"
        items, _ = await self.client.transactions(query)
        for raw in items:
            txn = _validate(Transaction, raw, [], "")
            if txn is not None:
                self._descriptions[txn.ObjectId] = await self._message(txn.id)
        for ticket_id in ticket_ids - self._descriptions.keys():
            self._descriptions[ticket_id] = ""

    async def _person(self, user_id: str) -> Person | None:
        data = await self.client.user(user_id)
        if data is None:
            return Person(external_id=user_id)
        name = str(data.get("Name") or user_id)
        if name == NOBODY:
            return None
        real = data.get("RealName") or name
        return Person(external_id=name, name=str(real), email=data.get("EmailAddress") or None)

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The ticket's current state."""
        ticket_id = _ticket_id(external_id)
        notes: list[str] = []
        tickets = await self._tickets({ticket_id}, notes)
        if ticket_id not in tickets:
            raise NotFound(f"RT ticket #{ticket_id} does not exist or is not visible")
        lookups = await self._lookups([], tickets)
        return TransactionTranslator(lookups).snapshot(tickets[ticket_id])

    # --- writing -----------------------------------------------------------------------

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        """Reply (public) or comment (internal), read it back, return its transaction id."""
        ticket_id = str(_ticket_id(external_id))
        internal = visibility is Visibility.INTERNAL
        action, wanted = ("comment", "Comment") if internal else ("correspond", "Correspond")
        found = await self._find_marked(ticket_id, idempotency_key)
        if found is None:
            messages = await self.client.post_message(
                ticket_id, action, with_marker(body, idempotency_key)
            )
            if not any(m.endswith(" added") for m in messages):
                raise WriteNotApplied(f"RT did not add the {action} to #{ticket_id}: {messages}")
            found = await self._find_marked(ticket_id, idempotency_key)
        if found is None:
            raise WriteNotApplied(
                f"RT reported the {action} on #{ticket_id} as added, but it is not in the history"
            )
        txn_id, txn_type = found
        if txn_type != wanted:
            raise WriteNotApplied(
                f"RT stored the message on #{ticket_id} as a {txn_type}, not a {wanted} "
                f"(transaction #{txn_id})"
            )
        return str(txn_id)

    async def _find_marked(self, ticket_id: str, idempotency_key: str) -> tuple[int, str] | None:
        """The newest reply/comment of the ticket carrying the key's marker, with its type."""
        query = (
            f"ObjectType = 'RT::Ticket' AND ObjectId = {ticket_id}"
            " AND (Type = 'Correspond' OR Type = 'Comment')"
        )
        types: dict[str, str] = {}
        page = 1
        while True:
            items, more = await self.client.transactions(query, page)
            types.update(
                {str(i.get("id")): str(i.get("Type")) for i in items if isinstance(i, dict)}
            )
            if not items or more is False:
                break
            page += 1
        page = 1
        while types:  # mail copies (EmailRecord) carry the marker too: only messages count
            items = await self.client.ticket_attachments(ticket_id, page)
            for part in (_validate(Attachment, i, [], "") for i in items):
                if (
                    part
                    and part.TransactionId in types
                    and has_marker(part.Content, idempotency_key)
                ):
                    return int(part.TransactionId), types[part.TransactionId]
            if not items:
                return None
            page += 1
        return None


def _ticket_id(external_id: str) -> int:
    if not external_id.strip().isdigit():
        raise NotFound(f"{external_id!r} is not an RT ticket id")
    return int(external_id)


def _validate(model: type[M], raw: object, notes: list[str], what: str) -> M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        if what:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "record"
            ident = raw.get("id") if isinstance(raw, dict) else None
            notes.append(f"{what} {ident!r}: skipped, malformed ({where}: {error['msg']})")
        return None


def _raw_id(raw: object) -> set[int]:
    """The id of a malformed transaction, if it has a usable one."""
    try:
        return {int(raw["id"])}  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return set()
