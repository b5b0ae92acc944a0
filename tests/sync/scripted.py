"""A scripted connector: stands in for an external system whose answers a test dictates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.base import (
    Capability,
    ChangeKind,
    ChangePage,
    Connector,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    Person,
    TicketChange,
    TicketSnapshot,
    Visibility,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def snapshot(
    external_id: str,
    *,
    status: NormalizedStatus = "open",
    minutes: int = 0,
    requester: str | None = None,
) -> TicketSnapshot:
    return TicketSnapshot(
        external_id=external_id,
        title=f"Ticket {external_id}",
        status=status,
        raw_status=status,
        priority="P2",
        raw_priority="High",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        requester=Person("r1", "Requester", requester) if requester else None,
    )


def change(
    source_id: str,
    external_id: str,
    *,
    kind: ChangeKind = ChangeKind.COMMENTED,
    body: str = "hello",
    visibility: Visibility = Visibility.PUBLIC,
    minutes: int = 0,
    comment_id: str | None = None,
    requester: str | None = None,
    payload: dict[str, Any] | None = None,
) -> TicketChange:
    return TicketChange(
        source_id=source_id,
        kind=kind,
        ticket=snapshot(external_id, minutes=minutes, requester=requester),
        occurred_at=T0 + timedelta(minutes=minutes),
        body=body,
        visibility=visibility,
        external_comment_id=comment_id,
        payload=payload or {},
    )


class ScriptedConnector(Connector):
    """Each call to changes_since pops the next scripted answer (a page or an error)."""

    kind = "scripted"
    display_name = "Scripted (tests)"
    needs_url = False
    capabilities = frozenset({Capability.READ_TICKETS})
    status_map: ClassVar[dict[str, NormalizedStatus]] = {"open": "open"}
    priority_map: ClassVar[dict[str, NormalizedPriority]] = {"High": "P2"}
    script: ClassVar[list[ChangePage | Exception]] = []
    cursors_seen: ClassVar[list[str | None]] = []

    async def check(self) -> Health:
        # The remote identity follows the `scope` setting, like a project or a queue.
        return Health(
            True, True, True, "scripted", f"scripted:{self.config.settings.get('scope', '1')}"
        )

    async def changes_since(self, cursor: str | None) -> ChangePage:
        self.cursors_seen.append(cursor)
        step = self.script.pop(0) if self.script else ChangePage([], cursor)
        if isinstance(step, Exception):
            raise step
        return step

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        return snapshot(external_id)

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        return "c1"


class WritingConnector(ScriptedConnector):
    """A scripted system that takes comments; `on_write` runs while the write is in flight."""

    kind = "scripted_writer"
    capabilities = frozenset(
        {Capability.READ_TICKETS, Capability.WRITE_PUBLIC_COMMENT, Capability.WRITE_INTERNAL_NOTE}
    )
    writes: ClassVar[list[tuple[str, str, Visibility, str]]] = []
    on_write: ClassVar[list[Callable[[], Awaitable[None]]]] = []

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        self.writes.append((external_id, body, visibility, idempotency_key))
        for hook in self.on_write:
            await hook()
        return f"c{len(self.writes)}"
