"""The ServiceNow poll cursor: the listing position, and what is known of each record.

Serialized as JSON: `{"v": 1, "since": "<sys_updated_on>", "after": "<sys_id>", "known":
{"<sys_id>": [<sys_updated_on>, <sys_mod_count>, [<tracked values>], <journal floor>,
{"<entry sys_id>": "<sys_created_on>"}, <done: 0|1>, <closed: 0|1>]}}`.

The poll lists records in (`sys_updated_on`, `sys_id`) order. `since`/`after` is the last
record fully emitted in that order; the next poll lists again from `since - OVERLAP`
(clock skew between the instance's nodes, transactions that commit late) and skips every
record whose `sys_mod_count` — ServiceNow counts each update — is the one already emitted.
So a record updated twice within one second is seen twice, and records sharing a second
are neither lost nor repeated wherever a page ends.

The Table API gives a record's current values but not their history, so a change of state,
priority, assignee, … is found by comparing with the values kept here (`Tracked`). Records
stay known while they are open; a closed one is forgotten once it has left the window, and
at most `MAX_KNOWN` records are kept (the least recently updated go first). A forgotten
record that changes again is treated as newly seen: its new journal entries are emitted,
its field changes since it was forgotten are not.

Journal entries are emitted per record: those created before the record's journal floor
were emitted earlier (or predate the sync); those after it are skipped by id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import ConfigError
from connectors.servicenow.models import Tracked, parse_timestamp, servicenow_timestamp

OVERLAP = timedelta(seconds=60)
# Known records outlive the listing window a little, so the window never holds a record
# the cursor has forgotten.
KEEP = OVERLAP + timedelta(seconds=30)
MAX_KNOWN = 5000
INCOMPLETE = -1  # the mod count of a record whose changes are not all emitted yet


def _time(value: str) -> datetime:
    moment = parse_timestamp(value)
    if not isinstance(moment, datetime):
        raise ValueError(value)
    return moment


@dataclass
class Known:
    """What was emitted of one record."""

    updated_on: str
    mod_count: int
    values: Tracked
    journal_floor: str | None
    journals: dict[str, str] = field(default_factory=dict)
    done: bool = True
    closed: bool = False

    def as_list(self) -> list[object]:
        return [
            self.updated_on,
            self.mod_count,
            self.values.as_list(),
            self.journal_floor,
            dict(sorted(self.journals.items())),
            int(self.done),
            int(self.closed),
        ]

    @classmethod
    def from_list(cls, item: list[object]) -> Known:
        updated_on, mod_count, values, floor, journals, done, closed = item
        if not isinstance(values, list) or not isinstance(journals, dict):
            raise TypeError("known record")
        _time(str(updated_on))
        return cls(
            updated_on=str(updated_on),
            mod_count=int(str(mod_count)),
            values=Tracked.from_list([str(v) for v in values]),
            journal_floor=None if floor is None else servicenow_timestamp(_time(str(floor))),
            journals={str(k): str(v) for k, v in journals.items()},
            done=bool(done),
            closed=bool(closed),
        )

    def emitted_before(self, entry_id: str, created_on: datetime) -> bool:
        """Whether a journal entry of this record was already emitted."""
        if entry_id in self.journals:
            return True
        return self.journal_floor is not None and created_on < _time(self.journal_floor)


@dataclass
class ServiceNowCursor:
    since: datetime | None = None
    after: str = ""
    known: dict[str, Known] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> ServiceNowCursor:
        """Read a cursor written by `dump` (None: from the beginning)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            since = data["since"]
            known = {str(k): Known.from_list(v) for k, v in data["known"].items()}
            return cls(None if since is None else _time(since), str(data["after"]), known)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(
                "servicenow: the stored sync cursor is not a ServiceNow cursor"
            ) from None

    def dump(self) -> str:
        """Serialize, forgetting closed records that have left the window for good."""
        if self.since is not None:
            horizon = servicenow_timestamp(self.since - KEEP)
            self.known = {
                sys_id: known
                for sys_id, known in self.known.items()
                if not (known.done and known.closed and known.updated_on < horizon)
            }
            if len(self.known) > MAX_KNOWN:
                by_age = sorted(self.known.items(), key=lambda item: item[1].updated_on)
                surplus = len(self.known) - MAX_KNOWN
                old = [s for s, k in by_age if k.done and k.updated_on < horizon][:surplus]
                for sys_id in old:
                    del self.known[sys_id]
        for known in self.known.values():
            if known.journal_floor is not None:
                floor = known.journal_floor
                known.journals = {e: c for e, c in known.journals.items() if c >= floor}
        data = {
            "v": 1,
            "since": None if self.since is None else servicenow_timestamp(self.since),
            "after": self.after,
            "known": {sys_id: k.as_list() for sys_id, k in sorted(self.known.items())},
        }
        return json.dumps(data, separators=(",", ":"))

    def window_start(self) -> datetime | None:
        """Where the next listing starts (None: list everything)."""
        return None if self.since is None else self.since - OVERLAP

    def is_current(self, sys_id: str, mod_count: int, updated_on: datetime) -> bool:
        """Whether everything about the record up to this update was already emitted."""
        known = self.known.get(sys_id)
        return (
            known is not None
            and known.done
            and known.mod_count == mod_count
            and known.updated_on == servicenow_timestamp(updated_on)
        )

    def advance(self, updated_on: datetime, sys_id: str) -> None:
        """The record at this position of the listing order is fully emitted."""
        if self.since is None or (updated_on, sys_id) > (self.since, self.after):
            self.since, self.after = updated_on, sys_id
