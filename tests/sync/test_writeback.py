"""Write-back: a comment or note to the ticket, once per key, recognized when it comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chat import writeback as chat_writeback
from app.kit.errors import NotFound
from app.models import ConnectorWrite, Ticket, TicketEvent
from app.runtime import Runtime
from app.sync import closing
from app.sync.engine import SyncReport, sync_instance
from app.sync.writeback import LEASE, WriteBack, do_write_back, retry_delay
from connectors.base import ChangePage, NotSupported, TransientError, Visibility
from tests.factories import create_connector, create_ticket
from tests.sync.scripted import ScriptedConnector, WritingConnector, change


async def _ticket(db: async_sessionmaker[AsyncSession], kind: str = "scripted_writer") -> Ticket:
    async with db() as session:
        instance = await create_connector(session, kind=kind)
        ticket = await create_ticket(session, connector=instance)
        await session.commit()
        return ticket


async def _write(runtime: Runtime, ticket_id: int, key: str, **kw: object) -> WriteBack:
    return await do_write_back(
        runtime.sessionmaker,
        box=runtime.box,
        http=runtime.http,
        ticket_id=ticket_id,
        body="Swapped the dock.",
        idempotency_key=key,
        **kw,  # type: ignore[arg-type]
    )


async def _writes(db: async_sessionmaker[AsyncSession], ticket_id: int) -> list[tuple[str, str]]:
    async with db() as session:
        stmt = select(ConnectorWrite.external_comment_id, ConnectorWrite.visibility).where(
            ConnectorWrite.ticket_id == ticket_id
        )
        return [(c, v) for c, v in (await session.execute(stmt)).all()]


class TestDoWriteBack:
    async def test_is_internal_unless_told_otherwise_and_once_per_key(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        ticket = await _ticket(db)
        note = await _write(runtime, ticket.id, "chat:1")
        assert note == WriteBack("c1", Visibility.INTERNAL, already_written=False)
        reply = await _write(runtime, ticket.id, "chat:2", visibility="public")
        assert reply == WriteBack("c2", Visibility.PUBLIC, already_written=False)
        again = await _write(runtime, ticket.id, "chat:2", visibility="public")
        assert again == WriteBack("c2", Visibility.PUBLIC, already_written=True)
        assert [(w[0], w[2]) for w in WritingConnector.writes] == [
            (ticket.external_id, Visibility.INTERNAL),
            (ticket.external_id, Visibility.PUBLIC),
        ]
        assert sorted(await _writes(db, ticket.id)) == [("c1", "internal"), ("c2", "public")]

    async def test_a_sync_during_the_write_already_knows_the_comment_is_ours(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        ticket = await _ticket(db)
        reports: list[SyncReport] = []

        async def sync_meanwhile() -> None:
            # The system stored the note and a poll reads it before the write returns.
            ScriptedConnector.script = [
                ChangePage(
                    [
                        change(
                            "n1",
                            ticket.external_id,
                            comment_id="c1",
                            visibility=Visibility.INTERNAL,
                            payload={"socialdesk_idempotency_key": "chat:7"},
                        )
                    ],
                    "c",
                )
            ]
            reports.append(
                await sync_instance(
                    runtime.sessionmaker,
                    runtime.bus,
                    runtime.box,
                    runtime.http,
                    ticket.connector_id,
                )
            )

        WritingConnector.on_write = [sync_meanwhile]
        await _write(runtime, ticket.id, "chat:7")
        assert (reports[0].own_writes, reports[0].events_ingested) == (1, 0)
        async with db() as session:
            events = await session.scalar(
                select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id)
            )
            assert events is None
        assert await _writes(db, ticket.id) == [("c1", "internal")]

    async def test_a_failed_write_is_completed_by_the_retry(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        ticket = await _ticket(db)

        async def fail_once() -> None:
            WritingConnector.on_write = []
            raise TransientError("timed out")

        WritingConnector.on_write = [fail_once]
        with pytest.raises(TransientError):
            await _write(runtime, ticket.id, "chat:9")
        [(pending, _)] = await _writes(db, ticket.id)
        assert pending.startswith("pending:")
        done = await _write(runtime, ticket.id, "chat:9")
        assert (done.external_comment_id, done.already_written) == ("c2", False)
        assert await _writes(db, ticket.id) == [("c2", "internal")]

    async def test_refuses_what_the_connector_cannot_write(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        ticket = await _ticket(db, kind="scripted")
        with pytest.raises(NotSupported, match="cannot write internal"):
            await _write(runtime, ticket.id, "chat:3")
        assert await _writes(db, ticket.id) == []

    async def test_an_unknown_ticket_is_not_found(self, runtime: Runtime) -> None:
        with pytest.raises(NotFound):
            await _write(runtime, 987654, "chat:4")


class TestRetryDelay:
    @pytest.mark.parametrize(
        ("attempts", "low", "high"),
        [
            (1, 5.0, 10.0),
            (2, 10.0, 20.0),
            (9, 1280.0, 2560.0),
            (10, 1800.0, 3600.0),
            (99, 1800.0, 3600.0),
        ],
    )
    def test_doubles_with_jitter_and_is_at_most_hourly(
        self, attempts: int, low: float, high: float
    ) -> None:
        assert all(low <= retry_delay(attempts) <= high for _ in range(100))

    def test_is_never_sooner_than_the_system_asked(self) -> None:
        assert retry_delay(1, retry_after=900) == 900
        assert retry_delay(99, retry_after=7200) == 7200
        assert retry_delay(1, retry_after=0.5) >= 5.0

    def test_the_workers_share_it(self) -> None:
        assert chat_writeback.retry_delay is closing.retry_delay is retry_delay
        assert chat_writeback.LEASE == closing.LEASE == LEASE == timedelta(seconds=120)
