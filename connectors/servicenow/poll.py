"""One poll's bookkeeping: the page being filled, the listing query, journal batches, and
what one changed record adds to the page (see `cursor.py` for why this is exactly once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from connectors.feed import Page
from connectors.servicenow.changes import RecordTranslator
from connectors.servicenow.cursor import INCOMPLETE, OVERLAP, Known, ServiceNowCursor
from connectors.servicenow.models import (
    Group,
    JournalEntry,
    Record,
    Tracked,
    parse_timestamp,
    servicenow_timestamp,
)

JOURNAL_BATCH = 20  # records whose journal entries are read in one query

ReadEntries = Callable[[list[str], datetime | None, list[str]], Awaitable[list[JournalEntry]]]
Resolve = Callable[[list[Record], list[JournalEntry], ServiceNowCursor], Awaitable[None]]


def listing_query(group: Group, floor: datetime | None) -> str:
    """The group's records updated after `floor`, in (`sys_updated_on`, `sys_id`) order."""
    terms = [f"assignment_group={group.sys_id}"]
    if floor is not None:
        terms.append(f"sys_updated_on>{servicenow_timestamp(floor)}")
    return "^".join([*terms, "ORDERBYsys_updated_on", "ORDERBYsys_id"])


class Journals:
    """The journal entries of a listing's changed records, read `JOURNAL_BATCH` at a time."""

    def __init__(
        self,
        state: ServiceNowCursor,
        group: Group,
        records: list[Record],
        read: ReadEntries,
        resolve: Resolve,
    ) -> None:
        self.state = state
        self.group = group
        self.read = read
        self.resolve = resolve
        self.pending = [r for r in records if self.wanted(r)]
        self.fetched: dict[str, list[JournalEntry]] = {}

    def wanted(self, record: Record) -> bool:
        """In the group (a query part ServiceNow ignored cannot widen the scope) and changed."""
        return record.assignment_group == self.group.sys_id and not self.state.is_current(
            record.sys_id, record.sys_mod_count, record.sys_updated_on
        )

    def _floor(self, record: Record) -> datetime | None:
        known = self.state.known.get(record.sys_id)
        if known is None:
            return self.state.window_start()
        floor = parse_timestamp(known.journal_floor)
        return floor if isinstance(floor, datetime) else None

    async def of(self, record: Record, notes: list[str]) -> list[JournalEntry]:
        """The record's entries (its batch read now if not yet), people resolved."""
        if record.sys_id not in self.fetched:
            start = next(i for i, r in enumerate(self.pending) if r.sys_id == record.sys_id)
            batch = self.pending[start : start + JOURNAL_BATCH]
            floors = [self._floor(r) for r in batch]
            since = None if any(f is None for f in floors) else min(f for f in floors if f)
            ids = [r.sys_id for r in batch]
            entries = await self.read(ids, since, notes)
            for sys_id in ids:
                self.fetched[sys_id] = [e for e in entries if e.element_id == sys_id]
            await self.resolve(batch, entries, self.state)
        return self.fetched[record.sys_id]


def emit_record(
    translator: RecordTranslator,
    record: Record,
    entries: list[JournalEntry],
    state: ServiceNowCursor,
    page: Page,
) -> bool:
    """Add the record's unseen changes to the page; False when they did not all fit.

    First sight: CREATED (or "first seen"); then its journal entries not emitted yet; then
    the differences from the kept values. Only when all are in does the record count as
    current; otherwise the next page goes on where this one stopped.
    """
    snap = translator.snapshot(record)
    known = state.known.get(record.sys_id)
    if known is None:
        window = state.window_start()
        if window is None or record.sys_created_on >= window:
            first = translator.created(record, snap)
        else:
            first = translator.first_seen(record, snap)
        if not page.fits(1):
            return False
        page.changes.append(first)
        floor = None if window is None else servicenow_timestamp(window)
        known = Known(
            servicenow_timestamp(record.sys_updated_on),
            INCOMPLETE,
            Tracked.of(record),
            floor,
            done=False,
        )
        state.known[record.sys_id] = known
    for entry in entries:
        if known.emitted_before(entry.sys_id, entry.sys_created_on):
            continue
        if not page.fits(1):
            return _incomplete(known)
        page.changes.append(translator.journal(entry, snap))
        known.journals[entry.sys_id] = servicenow_timestamp(entry.sys_created_on)
    differences = translator.differences(known.values, record, snap)
    if not page.fits(len(differences)):
        return _incomplete(known)
    page.changes += differences
    floor = servicenow_timestamp(record.sys_updated_on - OVERLAP)
    known.updated_on = servicenow_timestamp(record.sys_updated_on)
    known.mod_count = record.sys_mod_count
    known.values = Tracked.of(record)
    known.journal_floor = max(known.journal_floor or floor, floor)
    known.done = True
    known.closed = snap.status == "closed"
    return True


def _incomplete(known: Known) -> bool:
    """Mark a record whose changes did not all fit: the next page goes on with it."""
    known.done = False
    known.mod_count = INCOMPLETE
    return False
