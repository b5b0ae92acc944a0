"""The Redmine poll cursor: where the last page ended and what was emitted near there.

Serialized as JSON: `{"v": 1, "since": "<updated_on>", "issues": {"<id>": ["<updated_on>",
<last journal id emitted>, <final: 0|1>]}}`. `since` is the newest `updated_on` of a fully
emitted issue; the next poll re-lists from `since - OVERLAP` (clock skew, late commits, and
Redmine's own one-second slack) and uses the per-issue marks to emit nothing twice.

`updated_on` has whole seconds, so a second write in the same second leaves it unchanged:
a mark is only *final* (the issue is skipped while its `updated_on` stays the same) when
the issue was read at least `SETTLE` after that second, by the server's `Date`. Other marks
(that, or journals that did not fit in the page) make the issue be re-read next time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import ConfigError
from connectors.redmine.models import redmine_timestamp

OVERLAP = timedelta(seconds=10)
# Marks outlive the listing window a little: a journal's created_on can be a second later
# than its issue's updated_on, and a kept mark stops that journal being emitted again.
KEEP = OVERLAP + timedelta(seconds=5)
SETTLE = timedelta(seconds=3)


@dataclass
class IssueMark:
    updated_on: str
    journal_id: int
    final: bool


@dataclass
class RedmineCursor:
    since: datetime | None = None
    marks: dict[int, IssueMark] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> RedmineCursor:
        """Read a cursor written by `dump` (None: from the beginning)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            since = data["since"]
            marks = {
                int(issue_id): IssueMark(str(mark[0]), int(mark[1]), bool(mark[2]))
                for issue_id, mark in data["issues"].items()
            }
            return cls(datetime.fromisoformat(since) if since else None, marks)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise ConfigError("redmine: the stored sync cursor is not a Redmine cursor") from None

    def dump(self) -> str:
        """Serialize, dropping marks that have left the window for good."""
        keep_after = None if self.since is None else self.since - KEEP
        issues = {
            str(issue_id): [mark.updated_on, mark.journal_id, int(mark.final)]
            for issue_id, mark in sorted(self.marks.items())
            if keep_after is None or datetime.fromisoformat(mark.updated_on) >= keep_after
        }
        since = None if self.since is None else redmine_timestamp(self.since)
        return json.dumps({"v": 1, "since": since, "issues": issues}, separators=(",", ":"))

    def window_start(self) -> datetime | None:
        """Where the next listing starts (None: list everything)."""
        return None if self.since is None else self.since - OVERLAP

    def is_current(self, issue_id: int, updated_on: datetime) -> bool:
        """Whether everything about the issue up to `updated_on` was already emitted."""
        mark = self.marks.get(issue_id)
        return mark is not None and mark.final and mark.updated_on == redmine_timestamp(updated_on)

    def advance(self, updated_on: datetime) -> None:
        """An issue listed with this `updated_on` is fully emitted."""
        if self.since is None or updated_on > self.since:
            self.since = updated_on

    def mark(self, issue_id: int, updated_on: datetime, journal_id: int, *, final: bool) -> None:
        """Record the last journal emitted for an issue and whether it may be skipped."""
        self.marks[issue_id] = IssueMark(redmine_timestamp(updated_on), journal_id, final)
