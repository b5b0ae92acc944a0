"""Retention of stored policy decisions: a periodic pass deletes the old ones, in chunks.

Every evaluation stores one decision per event x recipient x channel (suppressions
included), so the table grows with every event. Decisions made more than
`SOCIALDESK_DECISION_RETENTION_DAYS` ago are deleted, `CHUNK_ROWS` per transaction with a
pause between transactions, so SQLite's single writer (shared with the live chat) is
never held long. Workers run a pass every `PASS_EVERY_SECONDS`; `socialdesk policy prune`
runs one by hand.

Kept whatever their age: the decisions of an event that pending work still needs, that
is an approval request still pending (the approver judges the held decisions) and
whatever another domain registers with `register_decision_keeper` (the outbox: rows of
the event still pending, or dead letters an admin may retry; see app/wiring.py).

Deleting a decision never changes what is delivered: nothing reads one to send. An outbox
row carries its own copy of its decision, and that copy is what a person's "why did I get
this" reads, so it keeps answering after the decision row is gone. What stops answering is
the admin's `GET /api/v1/decisions/{id}/explain` (404, naming the retention period) and
the list of an event's decisions. `notify_event` takes an event with stored decisions as
decided; no source notifies an event twice in normal operation, and if an old one were
replayed, outbox rows and approval requests are keyed by event, so no recipient gets it
twice on the same channel.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.kit.clock import utcnow
from app.kit.leases import take_lease, worker_identity
from app.kit.polling import poll_until_stopped
from app.policy import repository
from app.policy.repository import StillNeeded

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000
CHUNK_PAUSE_SECONDS = 0.1
PASS_EVERY_SECONDS = 3600.0

_KEEPERS: dict[str, StillNeeded] = {"pending approvals": repository.approval_pending}


def register_decision_keeper(name: str, still_needed: StillNeeded) -> None:
    """Keep the decisions of events for which `still_needed(event_key)` holds (replaces `name`).

    `still_needed` gets the decision's event key column and returns a SQL condition,
    evaluated per decision inside the deleting query (an EXISTS on an indexed column).
    """
    _KEEPERS[name] = still_needed


def decision_keepers() -> dict[str, StillNeeded]:
    return dict(_KEEPERS)


@dataclass(frozen=True, slots=True)
class PruneReport:
    cutoff: datetime
    deleted: int
    # Decisions older than the cutoff still there because pending work needs them; None
    # when the pass was stopped before it reached the end.
    kept: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "deleted": self.deleted, "kept": self.kept}


async def prune_decisions(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    older_than_days: int,
    now: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    pause: float = CHUNK_PAUSE_SECONDS,
    stop: asyncio.Event | None = None,
) -> PruneReport:
    """Delete the decisions made more than `older_than_days` ago that nothing needs."""
    if older_than_days < 1:
        raise ValueError("decisions are kept at least one day")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    keepers = list(_KEEPERS.values())
    after: tuple[datetime, int] | None = None
    deleted = 0
    kept: int | None = None
    while True:
        async with unit_of_work(sessionmaker) as session:
            found = await repository.expired_decisions(
                session, cutoff=cutoff, still_needed=keepers, after=after, limit=chunk_rows
            )
            deleted += await repository.delete_decisions(session, [row_id for row_id, _ in found])
            last_chunk = len(found) < chunk_rows
            if last_chunk:
                kept = await repository.count_decisions_before(session, cutoff)
        if last_chunk or (stop is not None and stop.is_set()):
            break
        row_id, created_at = found[-1]
        after = (created_at, row_id)
        # Let whoever waits for the database (the chat writer) have it between chunks.
        await asyncio.sleep(pause)
    if deleted or kept:
        log.info(
            "decision retention: deleted %d decisions made before %s; kept %s for pending work",
            deleted,
            cutoff.isoformat(),
            "?" if kept is None else kept,
        )
    return PruneReport(cutoff=cutoff, deleted=deleted, kept=kept)


class DecisionPruner:
    """The worker: one retention pass every `every` seconds in the whole deployment.

    Every worker process runs one; the lease `decision-retention` (held for `every`) lets
    only one of them run a pass per period, and another takes over when its holder dies.
    """

    LEASE = "decision-retention"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        retention_days: int,
        every: float = PASS_EVERY_SECONDS,
        owner: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.retention_days = retention_days
        self.every = every
        self.owner = owner or worker_identity()

    async def run(self, stop: asyncio.Event) -> None:
        async def one_pass() -> None:
            ttl = timedelta(seconds=self.every)
            if not await take_lease(self.sessionmaker, self.LEASE, self.owner, ttl):
                return  # another worker ran this period's pass
            # Always a whole pass (chunked inside), so the loop waits `every` after it.
            await prune_decisions(self.sessionmaker, older_than_days=self.retention_days, stop=stop)

        await poll_until_stopped(stop, one_pass, tick=self.every, what="decision retention")
