"""Every ingested ticket event gets its decisions, through the real sync engine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import ConnectorInstance, PolicyDecision, Role, TicketEvent, User
from app.runtime import Runtime
from app.sync.engine import SyncReport, sync_instance
from connectors import registry
from connectors.base import ChangeKind, ChangePage, Person, TicketChange, Visibility
from tests.factories import create_connector, create_user
from tests.sync.scripted import T0, ScriptedConnector, snapshot

REQUESTER = "rita.requester@example.com"
ASSIGNEE = "alan.assignee@example.com"


@pytest.fixture(autouse=True)
def scripted() -> type[ScriptedConnector]:
    registry.register(ScriptedConnector)
    ScriptedConnector.script = []
    ScriptedConnector.cursors_seen = []
    return ScriptedConnector


def _change(
    source_id: str,
    kind: ChangeKind,
    *,
    visibility: Visibility = Visibility.PUBLIC,
    body: str | None = None,
    old: str | None = None,
    new: str | None = None,
    actor: str | None = ASSIGNEE,
) -> TicketChange:
    ticket = replace(
        snapshot("T1", requester=REQUESTER),
        assignee=Person("a1", "Alan Assignee", ASSIGNEE),
    )
    return TicketChange(
        source_id=source_id,
        kind=kind,
        ticket=ticket,
        occurred_at=T0,
        actor=Person("x", "Actor", actor) if actor else None,
        visibility=visibility,
        body=body,
        old_value=old,
        new_value=new,
    )


async def _people(db: async_sessionmaker[AsyncSession]) -> tuple[User, User, int]:
    async with db() as session:
        rita, _ = await create_user(session, email=REQUESTER)
        alan, _ = await create_user(session, email=ASSIGNEE, role=Role.AGENT)
        instance = await create_connector(session, kind="scripted")
        await session.commit()
        return rita, alan, instance.id


async def _sync(runtime: Runtime, instance_id: int) -> SyncReport:
    return await sync_instance(
        runtime.sessionmaker, runtime.bus, runtime.box, runtime.http, instance_id
    )


async def _decisions(
    db: async_sessionmaker[AsyncSession], event_id: int
) -> dict[tuple[str, str], PolicyDecision]:
    async with db() as session:
        stmt = select(PolicyDecision).where(PolicyDecision.event_key == f"ticket_event:{event_id}")
        return {(d.recipient_key, d.channel): d for d in (await session.execute(stmt)).scalars()}


async def _event_ids(db: async_sessionmaker[AsyncSession], instance_id: int) -> dict[str, int]:
    async with db() as session:
        stmt = select(TicketEvent.source_id, TicketEvent.id).where(
            TicketEvent.connector_id == instance_id
        )
        return {str(row[0]): int(row[1]) for row in (await session.execute(stmt)).all()}


class TestIngestedEvents:
    async def test_internal_note_reaches_the_assignee_and_never_the_requester(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        rita, alan, instance_id = await _people(db)
        note = _change(
            "n1", ChangeKind.COMMENTED, visibility=Visibility.INTERNAL, body="db01 is down"
        )
        ScriptedConnector.script = [ChangePage([note], "c1")]
        report = await _sync(runtime, instance_id)
        assert report.error is None
        (event_id,) = report.event_ids
        decisions = await _decisions(db, event_id)
        requester = [d for (key, _), d in decisions.items() if key == f"user:{rita.id}"]
        assert {d.channel for d in requester} == {"in_app", "email"}
        assert {d.outcome for d in requester} == {"suppress"}
        assert "internal content reaches staff destinations only" in str(requester[0].reasons)
        # The assignee is the actor here, so they are not told of their own note.
        assert decisions[(f"user:{alan.id}", "in_app")].outcome == "suppress"

    async def test_public_progress_reaches_the_requester_in_app_and_by_email(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        rita, _alan, instance_id = await _people(db)
        ScriptedConnector.script = [
            ChangePage(
                [
                    _change("s1", ChangeKind.STATUS_CHANGED, old="open", new="pending"),
                    _change("r1", ChangeKind.RESOLVED, old="pending", new="resolved"),
                    _change("c1", ChangeKind.COMMENTED, body="Try restarting the client"),
                ],
                "c1",
            )
        ]
        await _sync(runtime, instance_id)
        ids = await _event_ids(db, instance_id)
        me = f"user:{rita.id}"
        status = await _decisions(db, ids["s1"])
        resolved = await _decisions(db, ids["r1"])
        comment = await _decisions(db, ids["c1"])
        # A status change waits 2 minutes so flapping collapses; resolution goes at once.
        assert {status[(me, c)].outcome for c in ("in_app", "email")} == {"delay"}
        assert status[(me, "email")].rule_id == "requester-hears-status"
        assert {resolved[(me, c)].outcome for c in ("in_app", "email")} == {"send"}
        assert resolved[(me, "in_app")].rule_id == "requester-hears-resolution"
        assert comment[(me, "in_app")].outcome == "send"
        assert comment[(me, "email")].outcome == "delay"
        for decision in [*status.values(), *resolved.values(), *comment.values()]:
            assert decision.body_variant == "public"
            assert decision.policy_version_id is not None

    async def test_replaying_a_page_writes_no_duplicate_decisions(
        self, runtime: Runtime, db: async_sessionmaker[AsyncSession]
    ) -> None:
        _rita, _alan, instance_id = await _people(db)
        page = ChangePage([_change("d1", ChangeKind.RESOLVED, old="open", new="resolved")], "c1")
        ScriptedConnector.script = [page]
        await _sync(runtime, instance_id)
        async with db() as session:
            first = await session.scalar(select(func.count()).select_from(PolicyDecision))
        # A crash before the cursor moved replays the page: stored once, decided once.
        async with db() as session:
            instance = await session.get(ConnectorInstance, instance_id)
            assert instance is not None
            instance.cursor = None
            await session.commit()
        ScriptedConnector.script = [page]
        report = await _sync(runtime, instance_id)
        assert report.duplicates == 1
        async with db() as session:
            again = await session.scalar(select(func.count()).select_from(PolicyDecision))
        assert first == again
        assert first is not None
        assert first > 0
