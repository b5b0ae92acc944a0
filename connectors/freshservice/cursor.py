"""The Freshservice poll cursor: the listing position, and what is known of each ticket.

Serialized as JSON: `{"v": 1, "since": "<updated_at>", "after": <ticket id>, "known":
{"<ticket id>": ["<updated_at>" or "" while incomplete, [<tracked values>], "<floor>" or
null, {"<conversation id>": "<created_at>"}]}}`, times as UTC ISO 8601 with milliseconds.

The poll lists the tickets with `updated_since` (contracts/freshservice/README.md § 1). The
listing's order is not documented (no sort parameters were captured), so the connector
reads the whole listing and orders it itself by (`updated_at`, `id`). `since`/`after` is
the last ticket fully emitted in that order; the next poll lists again from
`since - OVERLAP` (clock skew, late commits, second-resolution times) and skips every ticket
whose `updated_at` is the one already emitted. So tickets sharing a second are neither
lost nor repeated wherever a page of changes or a poll ends, and nothing is emitted twice
across restarts.

The list gives a ticket's current values, not their history, so a change of status,
priority, responder, … is found by comparing with the values kept here (`Tracked`).
Tickets stay known while they may change; a closed one is forgotten once it has left the
window, and at most `MAX_KNOWN` are kept (the least recently updated go first). A forgotten
ticket that changes again is treated as newly seen: its new conversations are emitted, its
field changes since it was forgotten are not.

Conversations are emitted per ticket: those created before the ticket's floor were emitted
earlier (or predate the sync), those after it are skipped by id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import ConfigError
from connectors.freshservice.models import Tracked, iso, parse_timestamp

OVERLAP = timedelta(seconds=60)
# Known tickets outlive the re-read window a little, so the window never lists a ticket
# the cursor has forgotten.
KEEP = OVERLAP + timedelta(seconds=30)
MAX_KNOWN = 5000
INCOMPLETE = ""
CLOSED = "5"


def _time(value: object) -> datetime:
    moment = parse_timestamp(value)
    if not isinstance(moment, datetime):
        raise ValueError(value)
    return moment


@dataclass
class Known:
    """What was emitted of one ticket."""

    updated: str
    values: Tracked
    floor: str | None
    items: dict[str, str] = field(default_factory=dict)

    def emitted_before(self, conversation_id: int, created: datetime) -> bool:
        """Whether a conversation of this ticket was already emitted."""
        if str(conversation_id) in self.items:
            return True
        return self.floor is not None and iso(created) < self.floor

    def as_list(self) -> list[object]:
        return [self.updated, self.values.as_list(), self.floor, dict(sorted(self.items.items()))]

    @classmethod
    def from_list(cls, item: list[object]) -> Known:
        updated, values, floor, items = item
        if not isinstance(values, list) or not isinstance(items, dict):
            raise TypeError("known ticket")
        return cls(
            updated=iso(_time(updated)) if updated else INCOMPLETE,
            values=Tracked.from_list(values),
            floor=None if floor is None else iso(_time(floor)),
            items={str(k): iso(_time(v)) for k, v in items.items()},
        )


@dataclass
class FreshserviceCursor:
    since: datetime | None = None
    after: int = 0
    known: dict[int, Known] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> FreshserviceCursor:
        """Read a cursor written by `dump` (None: from the beginning)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            since = None if data["since"] is None else _time(data["since"])
            known = {int(k): Known.from_list(v) for k, v in data["known"].items()}
            return cls(since, int(data["after"]), known)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(
                "freshservice: the stored sync cursor is not a Freshservice cursor"
            ) from None

    def dump(self) -> str:
        """Serialize, forgetting tickets that have left the window for good."""
        if self.since is not None:
            horizon = iso(self.since - KEEP)

            def gone(known: Known) -> bool:
                return known.updated != INCOMPLETE and known.updated < horizon

            self.known = {
                i: k for i, k in self.known.items() if not (gone(k) and k.values.status == CLOSED)
            }
            if len(self.known) > MAX_KNOWN:
                old = sorted((k.updated, i) for i, k in self.known.items() if gone(k))
                for _, ticket_id in old[: len(self.known) - MAX_KNOWN]:
                    del self.known[ticket_id]
        for known in self.known.values():
            if known.floor is not None:
                floor = known.floor
                known.items = {k: c for k, c in known.items.items() if c >= floor}
        data = {
            "v": 1,
            "since": None if self.since is None else iso(self.since),
            "after": self.after,
            "known": {str(i): k.as_list() for i, k in sorted(self.known.items())},
        }
        return json.dumps(data, separators=(",", ":"))

    def window_start(self) -> datetime | None:
        """The earliest `updated_at` the next listing must include (None: everything)."""
        return None if self.since is None else self.since - OVERLAP

    def is_current(self, ticket_id: int, updated: datetime) -> bool:
        """Whether everything about the ticket up to this update was already emitted."""
        known = self.known.get(ticket_id)
        return known is not None and known.updated == iso(updated)

    def advance(self, updated: datetime, ticket_id: int) -> None:
        """The ticket at this position of the listing order is fully emitted."""
        if self.since is None or (updated, ticket_id) > (self.since, self.after):
            self.since, self.after = updated, ticket_id
