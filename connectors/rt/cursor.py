"""The RT poll cursor: a transaction id, plus the ids emitted in the overlap window.

Serialized as JSON: `{"v": 1, "after": <id>, "seen": {"<id>": "<Created>"}}`. Transaction
ids grow monotonically, but on a database with concurrent writers an id can become visible
after a higher one (a ticket is created in one database transaction). So the next poll
reads from `after`, the last id older than the newest transaction by more than `OVERLAP`
(by RT's own `Created` clock), and skips the ids in `seen`: nothing is emitted twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import ConfigError

OVERLAP = timedelta(seconds=10)


@dataclass
class RTCursor:
    after: int = 0
    seen: dict[int, datetime] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> RTCursor:
        """Read a cursor written by `dump` (None: from the beginning)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            seen = {int(k): datetime.fromisoformat(v) for k, v in data["seen"].items()}
            return cls(int(data["after"]), seen)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError("rt: the stored sync cursor is not an RT cursor") from None

    def dump(self) -> str:
        """Serialize, folding ids older than the overlap window into `after`."""
        if self.seen:
            horizon = max(self.seen.values()) - OVERLAP
            settled = [txn_id for txn_id, created in self.seen.items() if created < horizon]
            self.after = max([self.after, *settled])
            self.seen = {t: c for t, c in self.seen.items() if t > self.after}
        seen = {str(t): c.isoformat() for t, c in sorted(self.seen.items())}
        return json.dumps({"v": 1, "after": self.after, "seen": seen}, separators=(",", ":"))

    def is_new(self, txn_id: int) -> bool:
        """Whether a transaction id still has to be emitted."""
        return txn_id > self.after and txn_id not in self.seen

    def emitted(self, txn_id: int, created: datetime) -> None:
        """Record a transaction as emitted (or deliberately skipped)."""
        self.seen[txn_id] = created
