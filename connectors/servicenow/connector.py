"""The ServiceNow connector: polls one table's records of one assignment group, writes back.

Section numbers are those of contracts/servicenow/README.md. ServiceNow has no native
webhooks (§ 8): the poll lists the group's records by `sys_updated_on` (see `cursor.py`),
reads the journal entries of the changed ones from `sys_journal_field` (§ 2) and compares
their fields with the values it kept (see `changes.py` for the kinds). Comments and work
notes are written by PATCHing the record's journal field (§ 3) and read back.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import ClassVar

import httpx
from pydantic import ValidationError

from connectors.base import (
    AuthError,
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
    WriteNotApplied,
)
from connectors.feed import Page
from connectors.http import Forbidden, InvalidRequest, first_request_failed
from connectors.servicenow.changes import Lookups, RecordTranslator
from connectors.servicenow.client import ServiceNowClient
from connectors.servicenow.comments import newest_marked, with_marker
from connectors.servicenow.config import SYS_ID, ServiceNowConfig
from connectors.servicenow.cursor import Known, ServiceNowCursor
from connectors.servicenow.mapping import PRIORITY_MAP, STATE_LABELS, STATUS_MAP
from connectors.servicenow.models import (
    JOURNAL_FIELDS,
    RECORD_FIELDS,
    Group,
    JournalEntry,
    Record,
    Tracked,
    parse_timestamp,
    servicenow_timestamp,
)
from connectors.servicenow.people import Directory
from connectors.servicenow.poll import Journals, emit_record, listing_query

MAX_LISTINGS = 200  # listing requests per call; the cursor resumes where they stopped
_NUMBER = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
JOURNAL_ELEMENTS = "elementINcomments,work_notes"
FIELD_OF = {Visibility.PUBLIC: "comments", Visibility.INTERNAL: "work_notes"}
LABEL_OF = {"comments": "comment", "work_notes": "work note"}
TIME_ZONE_REFUSAL = (
    "ServiceNow does not read the poll's time filter as UTC (the account's time zone is "
    "probably behind UTC), so the poll would miss changes: set the user's time zone to GMT"
)
ROLE_HINT = {
    "incident": "ServiceNow's `itil` role reads and updates incidents with their work notes",
}


class MalformedRecord(ConnectorError):
    """ServiceNow returned a record that does not validate."""

    code = "malformed"


class ServiceNowConnector(Connector):
    kind = "servicenow"
    display_name = "ServiceNow"
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
        }
    )
    # `username` + `password`, or `token`: checked with the first request (config.py).
    required_secrets = ()
    required_settings = ("assignment_group",)
    status_map: ClassVar[dict[str, NormalizedStatus]] = dict(STATUS_MAP)
    priority_map: ClassVar[dict[str, NormalizedPriority]] = dict(PRIORITY_MAP)

    def __init__(self, config: ConnectorConfig, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.settings = ServiceNowConfig.from_connector_config(config)
        self.table = self.settings.table
        self._client: ServiceNowClient | None = None
        self._directory: Directory | None = None
        self._group: Group | None = None

    @property
    def client(self) -> ServiceNowClient:
        """The Table API client; missing or ambiguous credentials raise ConfigError here."""
        if self._client is None:
            authorization = self.settings.authorization()
            self._client = ServiceNowClient(self.http, self.settings.url, authorization)
        return self._client

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = Directory(self.client)
        return self._directory

    # --- health ------------------------------------------------------------------------

    async def check(self) -> Health:
        """Reachable, credentials accepted, table and group readable, journal readable."""
        table = self.table
        try:
            client = self.client
        except ConfigError as exc:  # nothing was sent: reachability is not known either
            return Health(False, False, False, exc.message)
        try:
            probe = await client.page(
                table, "", "sys_id,assignment_group", f"read the {table} table", limit=1
            )
        except Forbidden as exc:
            return Health(True, True, False, self._role_hint(exc.message, table))
        except (InvalidRequest, NotFound):
            detail = f"ServiceNow has no table {table!r} (or does not expose it to the Table API)"
            return Health(True, True, False, detail)
        except ConnectorError as exc:  # unreachable, throttled, 401, or not a ServiceNow instance
            return first_request_failed(exc)
        first = probe.rows[0] if probe.rows else None
        if isinstance(first, dict) and "assignment_group" not in first:
            detail = f"the {table} table has no assignment_group field to scope the sync by"
            return Health(True, True, False, detail)
        try:
            group = await self._the_group()
            await self.client.page(
                "sys_journal_field",
                f"name={table}^{JOURNAL_ELEMENTS}",
                "sys_id",
                "read comments and work notes (sys_journal_field)",
                limit=1,
            )
        except Forbidden as exc:
            return Health(True, True, False, self._role_hint(exc.message, table))
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        identity = f"servicenow:{self.settings.url}:{table}:group:{group.sys_id}"
        detail = f"table {table!r}, assignment group {group.name!r} OK"
        try:
            if not await self._time_filter_is_utc(group):
                return Health(True, True, False, TIME_ZONE_REFUSAL, identity)
            await self.client.page("sys_user", "", "sys_id", "read users (sys_user)", limit=1)
        except Forbidden:
            detail += "; the account may not read sys_user: people are mirrored without names"
        except ConnectorError as exc:
            return Health(True, True, False, exc.message)
        return Health(True, True, True, detail, identity)

    async def _time_filter_is_utc(self, group: Group) -> bool:
        """Whether `sys_updated_on>…` (written in UTC) finds the newest record it should.

        The contract does not say in which time zone ServiceNow reads a date in an encoded
        query (§ 9). Read in a zone behind UTC, the poll's filter would start hours late
        and skip changes; so the check asks for the newest record with a filter one second
        before its own `sys_updated_on`. (A zone ahead of UTC only re-reads more.)
        """
        newest = await self.client.page(
            self.table,
            f"assignment_group={group.sys_id}^ORDERBYDESCsys_updated_on",
            "sys_id,sys_updated_on",
            "read the newest record",
            limit=1,
        )
        record = newest.rows[0] if newest.rows else None
        if not isinstance(record, dict):
            return True  # nothing to test with yet
        moment = parse_timestamp(record.get("sys_updated_on"))
        sys_id = str(record.get("sys_id", ""))
        if not isinstance(moment, datetime) or not SYS_ID.fullmatch(sys_id):
            return True
        since = servicenow_timestamp(moment - timedelta(seconds=1))
        found = await self.client.page(
            self.table,
            f"sys_id={sys_id}^sys_updated_on>{since}",
            "sys_id",
            "test the time filter",
            limit=1,
        )
        return any(isinstance(r, dict) and r.get("sys_id") == sys_id for r in found.rows)

    @staticmethod
    def _role_hint(message: str, table: str) -> str:
        hint = ROLE_HINT.get(table, f"it needs a role whose ACLs let it read {table!r}")
        return f"{message}; {hint}"

    async def _the_group(self) -> Group:
        if self._group is None:
            wanted = self.settings.assignment_group
            by_sys_id = self.settings.group_is_sys_id
            self._group = await self.directory.find_group(wanted, by_sys_id=by_sys_id)
        return self._group

    # --- reading -----------------------------------------------------------------------

    def _status_of(self, state: str, active: str) -> NormalizedStatus:
        """Instance overrides (by value or name), the incident table's map, then `active`."""
        for key in (state, self._state_name(state)):
            if key.casefold() in self._status_overrides:
                return self._status_overrides[key.casefold()]
        if self.table == "incident" and state in STATUS_MAP:
            return STATUS_MAP[state]
        return "closed" if active == "false" else "open"

    def _state_name(self, state: str) -> str:
        """The incident state's name (§ 5); other tables' states stay values."""
        return STATE_LABELS.get(state, state) if self.table == "incident" else state

    def _translator(self) -> RecordTranslator:
        lookups = Lookups(
            people=self.directory.people,
            groups=self.directory.groups,
            status_of=self._status_of,
            state_name=self._state_name,
            priority_of=self.normalize_priority,
            base_url=self.settings.url,
            table=self.table,
        )
        return RecordTranslator(lookups)

    async def _resolve(
        self, records: list[Record], entries: list[JournalEntry], state: ServiceNowCursor
    ) -> None:
        """Fetch the users and groups the translation will name."""
        old = [state.known[r.sys_id].values for r in records if r.sys_id in state.known]
        ids = [v for r in records for v in (r.caller_id, r.opened_by, r.assigned_to)]
        ids += [v for t in old for v in (t.assigned_to, t.caller_id)]
        names = [n for r in records for n in (r.sys_created_by, r.sys_updated_by)]
        await self.directory.resolve(ids, names + [e.sys_created_by for e in entries])
        groups = [r.assignment_group for r in records] + [t.assignment_group for t in old]
        await self.directory.resolve_groups(groups)

    def _record(self, raw: object, notes: list[str]) -> Record | None:
        try:
            return Record.model_validate(raw)
        except ValidationError as exc:
            sys_id = raw.get("sys_id") if isinstance(raw, dict) else None
            notes.append(f"{self.table} record {sys_id!r}: skipped, malformed ({_first(exc)})")
            return None

    async def _find(self, external_id: str) -> Record:
        """A record by sys_id or number (`INC0010001`)."""
        what = f"read {self.table} {external_id}"
        if SYS_ID.fullmatch(external_id):
            rows = [await self.client.record(self.table, external_id, RECORD_FIELDS)]
        elif _NUMBER.fullmatch(external_id):
            page = await self.client.page(
                self.table, f"number={external_id}", RECORD_FIELDS, what, limit=2
            )
            # An ignored query part would list the whole table (§ 1): keep exact matches.
            rows = [r for r in page.rows if isinstance(r, dict) and r.get("number") == external_id]
        else:
            rows = []
        if len(rows) != 1:
            raise NotFound(f"ServiceNow has no {self.table} {external_id!r}")
        try:
            return Record.model_validate(rows[0])
        except ValidationError as exc:
            raise MalformedRecord(
                f"{self.table} {external_id}: malformed ({_first(exc)})"
            ) from None

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        """The record's current state."""
        record = await self._find(external_id)
        await self._resolve([record], [], ServiceNowCursor())
        return self._translator().snapshot(record)

    async def cursor_at(self, moment: datetime) -> str:
        """A cursor that starts at `moment`, knowing the group's open records as they are."""
        group = await self._the_group()
        query = f"assignment_group={group.sys_id}^active=true^ORDERBYsys_updated_on^ORDERBYsys_id"
        rows = await self.client.rows(self.table, query, RECORD_FIELDS, "list open records")
        state = ServiceNowCursor(since=moment)
        floor = servicenow_timestamp(moment)
        for record in (self._record(raw, []) for raw in rows):
            if record is None or record.assignment_group != group.sys_id:
                continue
            state.known[record.sys_id] = Known(
                updated_on=servicenow_timestamp(record.sys_updated_on),
                mod_count=record.sys_mod_count,
                values=Tracked.of(record),
                journal_floor=floor,
            )
        return state.dump()

    async def changes_since(self, cursor: str | None) -> ChangePage:
        """The next ≤100 changes: records in (`sys_updated_on`, `sys_id`) order."""
        state = ServiceNowCursor.parse(cursor)
        group = await self._the_group()
        page = Page()
        floor, offset = state.window_start(), 0
        for _ in range(MAX_LISTINGS):
            listing = await self.client.page(
                self.table,
                listing_query(group, floor),
                RECORD_FIELDS,
                "list records",
                offset=offset,
            )
            records = [r for r in (self._record(raw, page.notes) for raw in listing.rows) if r]
            journals = Journals(state, group, records, self.journal_entries, self._resolve)
            for record in records:
                if journals.wanted(record):
                    if page.full:
                        return ChangePage(page.changes, state.dump(), True, page.notes)
                    entries = await journals.of(record, page.notes)
                    if not emit_record(self._translator(), record, entries, state, page):
                        return ChangePage(page.changes, state.dump(), True, page.notes)
                state.advance(record.sys_updated_on, record.sys_id)
            if listing.next_offset is None:
                return ChangePage(page.changes, state.dump(), False, page.notes)
            # Keyset paging: list again from the last record's second (records updated
            # while we page move to the end instead of shifting an offset); an offset only
            # within one second shared by a whole page.
            last = records[-1].sys_updated_on - timedelta(seconds=1) if records else None
            if last is not None and (floor is None or last > floor):
                floor, offset = last, 0
            else:
                offset = listing.next_offset
        return ChangePage(page.changes, state.dump(), True, page.notes)

    async def journal_entries(
        self, sys_ids: list[str], since: datetime | None, notes: list[str]
    ) -> list[JournalEntry]:
        """The comments and work notes of some records, oldest first (ties by sys_id)."""
        terms = [f"name={self.table}", f"element_idIN{','.join(sys_ids)}", JOURNAL_ELEMENTS]
        if since is not None:
            terms.append(f"sys_created_on>{servicenow_timestamp(since - timedelta(seconds=1))}")
        terms += ["ORDERBYsys_created_on", "ORDERBYsys_id"]
        rows = await self.client.rows(
            "sys_journal_field", "^".join(terms), JOURNAL_FIELDS, "read journal entries"
        )
        entries = []
        for row in rows:
            try:
                entry = JournalEntry.model_validate(row)
            except ValidationError as exc:
                entry_id = row.get("sys_id") if isinstance(row, dict) else None
                notes.append(f"journal entry {entry_id!r}: skipped, malformed ({_first(exc)})")
                continue
            if entry.element_id in sys_ids and entry.name in ("", self.table):
                entries.append(entry)
        entries.sort(key=lambda e: (e.sys_created_on, e.sys_id))
        return entries

    # --- writing -----------------------------------------------------------------------

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        """Write a comment (public) or work note (internal), read it back, return its id."""
        field = FIELD_OF[visibility]
        record = await self._find(external_id)
        before = await self.journal_entries([record.sys_id], None, [])
        existing = newest_marked(before, idempotency_key)
        if existing is not None:  # an earlier attempt got through
            _check_element(existing, field, record)
            return existing.sys_id
        what = f"add a {LABEL_OF[field]} to {self.table} {record.external_id}"
        try:
            await self.client.update(
                self.table, record.sys_id, {field: with_marker(body, idempotency_key)}, what
            )
        except Forbidden as exc:
            raise AuthError(
                f"{exc.message}: an ACL, business rule or data policy refused it"
            ) from None
        seen = {e.sys_id for e in before}
        after = await self.journal_entries([record.sys_id], None, [])
        written = newest_marked([e for e in after if e.sys_id not in seen], idempotency_key)
        if written is None:
            raise WriteNotApplied(
                f"ServiceNow accepted the {LABEL_OF[field]} for {self.table} "
                f"{record.external_id} but stored no journal entry: the account may not write "
                f"the {field!r} field (ServiceNow drops a field its ACLs do not let the "
                "account write, without an error)"
            )
        _check_element(written, field, record)
        return written.sys_id


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'record'}: {error['msg']}"


def _check_element(entry: JournalEntry, field: str, record: Record) -> None:
    if entry.element == field:
        return
    raise WriteNotApplied(
        f"ServiceNow stored the {LABEL_OF[field]} for {record.external_id} as a "
        f"{LABEL_OF[entry.element]} (journal entry {entry.sys_id})"
    )
