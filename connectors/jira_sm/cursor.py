"""The Jira poll cursor: the listing position, and what was emitted of each recent issue.

Serialized as JSON: `{"v": 1, "since": "<updated>", "after": "<issue id>", "known":
{"<issue id>": ["<updated>" or "" while incomplete, "<floor>" or null, {"h<history id>" |
"c<comment id>": "<created>"}]}}`, times as UTC ISO 8601 with milliseconds.

The poll lists the project's issues by JQL `updated >= "<minute>"` ordered by `updated`
and `id`. JQL date literals have minute resolution (contracts/jira-sm/README.md § 1a
leaves their format open; ASSUMED `yyyy/MM/dd HH:mm` in the account's time zone), while
issues carry `updated` to the millisecond: `since`/`after` is the last issue fully emitted,
to the millisecond and broken by issue id, and the next poll lists again from the minute
of `since - OVERLAP`. An issue whose `updated` is the one already emitted is skipped, so
issues sharing a minute, or a millisecond, are neither lost nor repeated wherever a page
or a poll ends, and nothing is emitted twice across restarts.

Within an issue, changelog entries and comments are emitted by id: those created before
the issue's floor were emitted earlier (or predate the sync), those after it are kept here
until they fall below the floor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import ConfigError
from connectors.jira_sm.models import iso, parse_timestamp

OVERLAP = timedelta(seconds=60)
# Marks outlive the re-read window (and the minute it is rounded down to), so the window
# never lists an issue the cursor has forgotten the marks of.
KEEP = OVERLAP + timedelta(minutes=2)
INCOMPLETE = ""


def _time(value: object) -> datetime:
    moment = parse_timestamp(value)
    if not isinstance(moment, datetime):
        raise ValueError(value)
    return moment


@dataclass
class Known:
    """What was emitted of one issue."""

    updated: str
    floor: str | None
    items: dict[str, str] = field(default_factory=dict)

    def emitted_before(self, item: str, created: datetime) -> bool:
        """Whether a changelog entry (`h…`) or comment (`c…`) was already emitted."""
        if item in self.items:
            return True
        return self.floor is not None and iso(created) < self.floor


@dataclass
class JiraCursor:
    since: datetime | None = None
    after: str = ""
    known: dict[str, Known] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> JiraCursor:
        """Read a cursor written by `dump` (None: from the beginning)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            since = None if data["since"] is None else _time(data["since"])
            known = {}
            for issue_id, (updated, floor, items) in data["known"].items():
                if not isinstance(items, dict):
                    raise TypeError("items")
                known[str(issue_id)] = Known(
                    updated=iso(_time(updated)) if updated else INCOMPLETE,
                    floor=None if floor is None else iso(_time(floor)),
                    items={str(k): iso(_time(v)) for k, v in items.items()},
                )
            return cls(since, str(data["after"]), known)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError("jira_sm: the stored sync cursor is not a Jira cursor") from None

    def dump(self) -> str:
        """Serialize, forgetting issues and items that have left the window for good."""
        if self.since is not None:
            horizon = iso(self.since - KEEP)
            self.known = {
                issue_id: known
                for issue_id, known in self.known.items()
                if known.updated == INCOMPLETE or known.updated >= horizon
            }
        for known in self.known.values():
            if known.floor is not None:
                floor = known.floor
                known.items = {k: c for k, c in known.items.items() if c >= floor}
        data = {
            "v": 1,
            "since": None if self.since is None else iso(self.since),
            "after": self.after,
            "known": {
                issue_id: [k.updated, k.floor, dict(sorted(k.items.items()))]
                for issue_id, k in sorted(self.known.items())
            },
        }
        return json.dumps(data, separators=(",", ":"))

    def window_start(self) -> datetime | None:
        """The earliest `updated` the next listing must include (None: list everything)."""
        return None if self.since is None else self.since - OVERLAP

    def is_current(self, issue_id: str, updated: datetime) -> bool:
        """Whether everything about the issue up to this update was already emitted."""
        known = self.known.get(issue_id)
        return known is not None and known.updated == iso(updated)

    def advance(self, updated: datetime, issue_id: str) -> None:
        """The issue at this position of the listing order is fully emitted."""
        position = (updated, int(issue_id))
        if self.since is None or position > (self.since, int(self.after or 0)):
            self.since, self.after = updated, issue_id
