"""Decisions become outbox rows, in the transaction of the event they react to.

One row per recipient x channel, keyed `{event_key}:{recipient_key}:{channel}` (unique, so
replaying an event writes nothing). A decision for a user on `webhook` or `apprise` fans out
to each of that user's enabled destinations of the kind (`...:user:7:dest:3:apprise`).

- send: due now. hold and suppress: nothing. An approval releases held decisions as
  `send` due at approval (app.policy.decisions.release), and they come through here then.
- digest: waits, due at the digest boundary; the relay folds all of one recipient's due
  digest rows on one channel into a single message.
- delay: due at `deliver_at`, and collapses. A newer delayed update of the same ticket x
  event type x recipient x channel supersedes the pending older row and inherits its
  content: a status flapping open -> pending -> open inside the window becomes one row,
  sent once with the final state and the way it went ("open again, briefly pending"), due
  when the first update's window ends. Comments in a burst accumulate into one message.

`enqueue_addressed` is for destinations that are no user's (a status webhook): one row per
destination, due now, keyed `{event_key}:{recipient_key}:{channel}` the same way; the
domain that owns the channel composes it at send time (`register_composer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.wakeups import wake_after_commit
from app.models import Delivery
from app.notifications.repository import destinations_of
from app.outbox.repository import PENDING, insert_ignoring_conflicts
from app.policy.engine.evaluator import Decision, PolicyEvent
from app.policy.engine.safety import STATUS_EVENTS

OWN_CHANNELS = frozenset({"in_app", "email", "webhook", "apprise"})
DESTINATION_CHANNELS = frozenset({"webhook", "apprise"})
_ENQUEUED = frozenset({"send", "delay", "digest"})
# Events whose delayed notices replace each other (the latest state wins); others pile up.
_STATE_EVENTS = frozenset({"ticket.status_changed", "ticket.priority_changed"})
_CHUNK = 500
# The wake-up queue of the delivery relay (app.kit.wakeups).
OUTBOX_QUEUE = "outbox"


def parse_recipient_key(key: str) -> tuple[int | None, int | None]:
    """(user id, destination id) of `user:7` or `user:7:dest:3`; (None, None) if foreign."""
    parts = key.split(":")
    if len(parts) in (2, 4) and parts[0] == "user" and parts[1].isdigit():
        if len(parts) == 2:
            return int(parts[1]), None
        if parts[2] == "dest" and parts[3].isdigit():
            return int(parts[1]), int(parts[3])
    return None, None


def content_part(event: PolicyEvent, decision: Decision) -> dict[str, Any]:
    """What one decision sends: the text of its body variant and that text's visibility."""
    if event.type in STATUS_EVENTS:
        internal = decision.body_variant == "internal" or event.audience is None
        text = event.body if internal else event.public_body or ""
        visibility = "internal" if internal else event.audience
    else:
        # The event's own visibility, whatever the decision says: an internal note stays
        # internal even under a (hostile) public body variant.
        internal = event.visibility != "public" or decision.body_variant == "internal"
        text, visibility = event.body, "internal" if internal else "public"
    ticket = event.ticket
    return {
        "event_key": event.key,
        "type": event.type,
        "visibility": visibility,
        "text": text,
        "old_status": event.old_status,
        "new_status": event.new_status,
        # The statuses a collapsed chain went through, first to last.
        "path": [event.old_status, event.new_status] if event.new_status else None,
        "priority": ticket.priority if ticket else None,
        "occurred_at": event.occurred_at.isoformat(),
        "decision": {
            "rule_id": decision.rule_id,
            "outcome": decision.outcome,
            "audience": decision.audience,
            "body_variant": decision.body_variant,
            "redaction_profile": decision.redaction_profile,
            "reasons": [
                {"kind": r.kind, "matched": r.matched, "sentence": r.sentence}
                for r in decision.reasons
            ],
        },
    }


async def _destinations(
    session: AsyncSession, decisions: Sequence[Decision]
) -> dict[tuple[int, str], list[int]]:
    """Enabled destinations by (user, kind), for decisions addressed to a user as a whole."""
    users: set[int] = set()
    for decision in decisions:
        user_id, dest_id = parse_recipient_key(decision.recipient_key)
        if decision.channel in DESTINATION_CHANNELS and user_id is not None and dest_id is None:
            users.add(user_id)
    found: dict[tuple[int, str], list[int]] = {}
    for dest in await destinations_of(session, users, enabled_only=True):
        found.setdefault((dest.user_id, dest.kind), []).append(dest.id)
    return found


async def enqueue_deliveries(
    session: AsyncSession,
    event: PolicyEvent,
    decisions: Sequence[Decision],
    *,
    ticket_id: int | None = None,
) -> int:
    """Outbox rows for the send/delay/digest decisions of one event; how many were new."""
    if event.ticket is not None and ticket_id is None:
        raise ValueError("enqueue_deliveries needs ticket_id for an event about a ticket")
    mine = [d for d in decisions if d.outcome in _ENQUEUED and d.channel in OWN_CHANNELS]
    if not mine:
        return 0
    now = utcnow()
    fanout = await _destinations(session, mine)
    rows: list[dict[str, Any]] = []
    for decision in mine:
        user_id, dest_id = parse_recipient_key(decision.recipient_key)
        keys: list[tuple[str, int | None]] = [(decision.recipient_key, dest_id)]
        if decision.channel in DESTINATION_CHANNELS and dest_id is None and user_id is not None:
            dests = fanout.get((user_id, decision.channel), [])
            keys = [(f"{decision.recipient_key}:dest:{d}", d) for d in dests]
        part = content_part(event, decision)
        for recipient_key, destination_id in keys:
            rows.append(_row(event, decision, part, recipient_key, user_id, destination_id,
                             ticket_id, now))  # fmt: skip
    inserted = await insert_ignoring_conflicts(session, Delivery, rows, unique="idempotency_key")
    if inserted:
        wake_after_commit(session, OUTBOX_QUEUE)
    delayed = {key: row for row in rows if (key := row["collapse_key"]) is not None}
    new_ids = {idem: row_id for row_id, idem in inserted}
    fresh = [r for r in delayed.values() if r["idempotency_key"] in new_ids]
    if fresh:
        await _collapse(session, fresh, new_ids, now)
    return len(inserted)


def _row(
    event: PolicyEvent,
    decision: Decision,
    part: dict[str, Any],
    recipient_key: str,
    user_id: int | None,
    destination_id: int | None,
    ticket_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    collapse = None
    if decision.outcome == "delay" and ticket_id is not None:
        collapse = f"{ticket_id}:{event.type}:{recipient_key}:{decision.channel}"
    return {
        "idempotency_key": f"{event.key}:{recipient_key}:{decision.channel}",
        "event_key": event.key,
        "recipient_key": recipient_key,
        "channel": decision.channel,
        "user_id": user_id,
        "destination_id": destination_id,
        "ticket_id": ticket_id,
        "timing": decision.outcome,
        "status": "pending",
        "collapse_key": collapse,
        "payload": {"parts": [part]},
        "rule_id": decision.rule_id,
        "deliver_at": decision.deliver_at or now,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


async def _collapse(
    session: AsyncSession, fresh: list[dict[str, Any]], new_ids: dict[str, int], now: datetime
) -> None:
    """Supersede older pending rows of the same collapse keys and fold them into the new ones."""
    by_key = {row["collapse_key"]: row for row in fresh}
    merged: list[dict[str, Any]] = []
    superseded: list[dict[str, Any]] = []
    keys = list(by_key)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        ids = [new_ids[by_key[k]["idempotency_key"]] for k in chunk]
        stmt = (
            update(Delivery)
            .where(
                PENDING,
                Delivery.collapse_key.in_(chunk),
                Delivery.id.not_in(ids),
                # A row a worker is sending right now is left alone; it goes out as is.
                (Delivery.lease_expires_at.is_(None)) | (Delivery.lease_expires_at < now),
            )
            .values(status="superseded", updated_at=now)
            .returning(Delivery.id, Delivery.collapse_key, Delivery.payload, Delivery.deliver_at)
            .execution_options(synchronize_session=False)
        )
        older: dict[str, list[tuple[int, dict[str, Any], datetime]]] = {}
        for old_id, key, payload, deliver_at in (await session.execute(stmt)).all():
            older.setdefault(key, []).append((old_id, payload, deliver_at))
        for key, previous in older.items():
            row = by_key[key]
            new_id = new_ids[row["idempotency_key"]]
            previous.sort(key=lambda found: found[0])
            parts = _fold([p for _, payload, _ in previous for p in payload["parts"]], row)
            # The window opened with the first update: a status that keeps flapping still
            # goes out when that first window ends.
            first_due = min([row["deliver_at"], *(at for _, _, at in previous)])
            merged.append({"id": new_id, "payload": {"parts": parts}, "deliver_at": first_due})
            superseded += [{"id": old_id, "superseded_by": new_id} for old_id, _, _ in previous]
    if merged:
        await session.execute(update(Delivery), merged)
        await session.execute(update(Delivery), superseded)


def _fold(earlier: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    latest = row["payload"]["parts"][0]
    if latest["type"] in _STATE_EVENTS and earlier:
        # The latest state wins, remembering the way there.
        path = [*(earlier[-1].get("path") or []), latest.get("new_status")]
        return [{**latest, "path": path if latest.get("path") else None}]
    return [*earlier, latest]


@dataclass(frozen=True, slots=True)
class Addressed:
    """A delivery to a destination that is no user's; `payload` says what, not the text."""

    event_key: str
    recipient_key: str
    channel: str
    payload: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        return f"{self.event_key}:{self.recipient_key}:{self.channel}"


async def enqueue_addressed(session: AsyncSession, items: Sequence[Addressed]) -> int:
    """Outbox rows due now, in the caller's transaction; a key already there is skipped."""
    if not items:
        return 0
    now = utcnow()
    rows = [
        {
            "idempotency_key": item.idempotency_key,
            "event_key": item.event_key,
            "recipient_key": item.recipient_key,
            "channel": item.channel,
            "user_id": None,
            "destination_id": None,
            "ticket_id": None,
            "timing": "send",
            "status": "pending",
            "collapse_key": None,
            "payload": item.payload,
            "rule_id": None,
            "deliver_at": now,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for item in items
    ]
    inserted = await insert_ignoring_conflicts(session, Delivery, rows, unique="idempotency_key")
    if inserted:
        wake_after_commit(session, OUTBOX_QUEUE)
    return len(inserted)
