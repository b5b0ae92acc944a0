from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from connectors.base import ChangeKind, ConnectorConfig, Visibility
from connectors.demo.connector import DemoConnector
from connectors.demo.world import DemoWorld

EPOCH = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _world(seed: int = 7) -> DemoWorld:
    return DemoWorld(seed=seed, epoch=EPOCH, rate_per_minute=6)


def test_the_same_seed_replays_the_same_history() -> None:
    a, b = _world(), _world()
    a.advance(EPOCH + timedelta(hours=1))
    b.advance(EPOCH + timedelta(hours=1))
    assert [c for _, c in a.log] == [c for _, c in b.log]
    other = _world(8)
    other.advance(EPOCH + timedelta(hours=1))
    assert [c.ticket.title for _, c in other.log] != [c.ticket.title for _, c in a.log]


def test_the_desk_looks_alive() -> None:
    world = _world()
    world.advance(EPOCH)
    backlog = len(world.log)
    world.advance(EPOCH + timedelta(minutes=10))
    assert len(world.log) == backlog + 60  # 6 changes a minute
    kinds = {c.kind for _, c in world.log}
    assert {ChangeKind.CREATED, ChangeKind.COMMENTED, ChangeKind.ASSIGNED} <= kinds
    assert ChangeKind.STATUS_CHANGED in kinds or ChangeKind.RESOLVED in kinds
    visibilities = {c.visibility for _, c in world.log if c.kind is ChangeKind.COMMENTED}
    assert visibilities == {Visibility.PUBLIC, Visibility.INTERNAL}
    # changes are in time order, which the sync engine relies on
    times = [c.occurred_at for _, c in world.log]
    assert times == sorted(times)


async def test_connector_pages_resume_from_the_cursor_and_writes_are_idempotent() -> None:
    settings = {"seed": "11", "rate": "60", "epoch": datetime.now(UTC).isoformat()}
    async with httpx.AsyncClient() as http:
        connector = DemoConnector.create(ConnectorConfig(settings=settings), http)
        first = await connector.changes_since(None)
        assert first.changes
        assert first.cursor
        seen = [c.source_id for c in first.changes]
        cursor: str | None = first.cursor
        while True:
            page = await connector.changes_since(cursor)
            seen += [c.source_id for c in page.changes]
            cursor = page.cursor
            if not page.has_more:
                break
        assert len(seen) == len(set(seen))
        ticket = first.changes[0].ticket.external_id
        one = await connector.add_comment(ticket, "hi", Visibility.PUBLIC, "key-1")
        again = await connector.add_comment(ticket, "hi", Visibility.PUBLIC, "key-1")
        assert one == again
        after = await connector.changes_since(cursor)
        written = [c for c in after.changes if c.external_comment_id == one]
        assert len(written) == 1
        assert written[0].body == "hi"
        assert json.loads(after.cursor or "{}")["w"] == 1


async def test_a_world_too_old_to_replay_is_a_config_error_not_a_hang() -> None:
    import pytest

    from connectors.base import ConfigError

    settings = {"seed": "1", "rate": "600", "epoch": "2020-01-01T00:00:00+00:00"}
    async with httpx.AsyncClient() as http:
        connector = DemoConnector.create(ConnectorConfig(settings=settings), http)
        with pytest.raises(ConfigError, match="too far in the past"):
            await connector.changes_since(None)
        without_epoch = DemoConnector.create(ConnectorConfig(settings={"seed": "1"}), http)
        with pytest.raises(ConfigError, match="epoch"):
            await without_epoch.changes_since(None)
