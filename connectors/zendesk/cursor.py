"""The Zendesk sync cursor: the export position, and what is known of each ticket.

Serialized as JSON: `{"v": 1, "export": <Zendesk's cursor or null>, "start": <epoch>,
"floor": <epoch>, "known": {"<ticket id>": [<generated_timestamp>, [<tracked values>],
<comment mark: epoch or null>, [<comment ids at the mark>], <done: 0|1>,
<description public: 0|1>, <terminal: 0|1>]}}`.

The cursor-based incremental export (contracts/zendesk/README.md § 1a) is read with
`start_time` once (`start`), then only with Zendesk's `after_cursor` (`export`): the
export position of the page being emitted. It only moves on once every ticket of that
page is emitted, so a page cut short is fetched again and its tickets already emitted
(their `generated_timestamp` is the one kept) are skipped: nothing is lost or repeated
wherever a page ends or the process stops. Zendesk leaves the most recent minute out of
the export; `end_of_stream` says the page reached that point, and the next poll goes on
from its cursor.

The export gives a ticket's current values, not their history, so a change of status,
priority, assignee, … is found by comparing with the values kept here (`Tracked`).
Comments are emitted per ticket in (`created_at`, `id`) order: those before the ticket's
mark were emitted earlier, those at the mark are skipped by id. A ticket first seen emits
its comments from `floor` on (`sync_from`, else all of them). At most `MAX_KNOWN` tickets
are kept (closed and deleted first, then the least recently changed); `floor` then moves
past the forgotten ones, so their comments are never emitted again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import ConfigError
from connectors.zendesk.models import Tracked, ZendeskComment

MAX_KNOWN = 5000
INCOMPLETE = -1  # the generated_timestamp of a ticket whose changes are not all emitted


@dataclass
class Known:
    """What was emitted of one ticket."""

    generated: int
    values: Tracked
    mark: int | None = None
    mark_ids: list[int] = field(default_factory=list)
    done: bool = True
    description_public: bool = False
    terminal: bool = False

    def as_list(self) -> list[object]:
        return [
            self.generated,
            self.values.as_list(),
            self.mark,
            sorted(self.mark_ids),
            int(self.done),
            int(self.description_public),
            int(self.terminal),
        ]

    @classmethod
    def from_list(cls, item: list[object]) -> Known:
        generated, values, mark, mark_ids, done, public, terminal = item
        if not isinstance(values, list) or not isinstance(mark_ids, list):
            raise TypeError("known ticket")
        return cls(
            generated=int(str(generated)),
            values=Tracked.from_list([str(v) for v in values]),
            mark=None if mark is None else int(str(mark)),
            mark_ids=[int(str(i)) for i in mark_ids],
            done=bool(done),
            description_public=bool(public),
            terminal=bool(terminal),
        )

    def emitted(self, comment: ZendeskComment, floor: int) -> bool:
        """Whether a comment of this ticket was emitted already (or predates the sync)."""
        created = _epoch(comment.created_at)
        if self.mark is None:
            return created < floor
        return created < self.mark or (created == self.mark and comment.id in self.mark_ids)

    def note_emitted(self, comment: ZendeskComment) -> None:
        created = _epoch(comment.created_at)
        if self.mark is None or created > self.mark:
            self.mark, self.mark_ids = created, [comment.id]
        elif created == self.mark:
            self.mark_ids.append(comment.id)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class ZendeskCursor:
    start: int = 0
    export: str | None = None
    floor: int = 0
    known: dict[int, Known] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> ZendeskCursor:
        """Read a cursor written by `dump` (None: from the beginning)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            export = data["export"]
            return cls(
                start=int(data["start"]),
                export=None if export is None else str(export),
                floor=int(data["floor"]),
                known={int(k): Known.from_list(v) for k, v in data["known"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError("zendesk: the stored sync cursor is not a Zendesk cursor") from None

    def dump(self) -> str:
        """Serialize, forgetting the oldest tickets beyond `MAX_KNOWN`."""
        if len(self.known) > MAX_KNOWN:
            done = [(k.terminal is False, k.generated, i) for i, k in self.known.items() if k.done]
            for _, generated, ticket_id in sorted(done)[: len(self.known) - MAX_KNOWN]:
                del self.known[ticket_id]
                self.floor = max(self.floor, generated + 1)
        data = {
            "v": 1,
            "export": self.export,
            "start": self.start,
            "floor": self.floor,
            "known": {str(i): k.as_list() for i, k in sorted(self.known.items())},
        }
        return json.dumps(data, separators=(",", ":"))

    def is_current(self, ticket_id: int, generated: int) -> bool:
        """Whether everything about the ticket up to this update was already emitted."""
        known = self.known.get(ticket_id)
        return known is not None and known.done and generated <= known.generated
