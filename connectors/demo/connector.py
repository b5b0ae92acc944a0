"""The demo connector: a built-in ticket store so Socialdesk runs with nothing else."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import ClassVar

from connectors.base import (
    Capability,
    ChangePage,
    ConfigError,
    Connector,
    Health,
    NormalizedPriority,
    NormalizedStatus,
    TicketSnapshot,
    Visibility,
)
from connectors.demo.world import RAW_PRIORITY, RAW_STATUS, DemoWorld

PAGE_SIZE = 100
# The world replays every step since its epoch; refuse one that would take minutes.
MAX_STEPS = 200_000
_worlds: dict[tuple[int, str, float], DemoWorld] = {}


def _now() -> datetime:
    return datetime.now(UTC)


class DemoConnector(Connector):
    kind = "demo"
    display_name = "Demo desk"
    needs_url = False
    capabilities = frozenset(
        {
            Capability.READ_TICKETS,
            Capability.READ_COMMENT_VISIBILITY,
            Capability.WRITE_PUBLIC_COMMENT,
            Capability.WRITE_INTERNAL_NOTE,
        }
    )
    status_map: ClassVar[dict[str, NormalizedStatus]] = {v: k for k, v in RAW_STATUS.items()}
    priority_map: ClassVar[dict[str, NormalizedPriority]] = {v: k for k, v in RAW_PRIORITY.items()}

    @classmethod
    def initial_settings(cls) -> dict[str, str]:
        """Pin the world's epoch and seed, so restarts replay the same history."""
        return {
            "epoch": _now().isoformat(timespec="seconds"),
            "seed": str(secrets.randbelow(10**6)),
            "rate": "6",
        }

    @property
    def world(self) -> DemoWorld:
        settings = self.config.settings
        try:
            seed = int(settings.get("seed", "1"))
            rate = float(settings.get("rate", "6"))
            epoch = datetime.fromisoformat(settings["epoch"])
        except KeyError as exc:
            raise ConfigError("demo: the epoch setting is missing") from exc
        except ValueError as exc:
            raise ConfigError(f"demo: invalid setting ({exc})") from exc
        if rate <= 0 or rate > 600:
            raise ConfigError("demo: rate must be between 0 and 600 changes per minute")
        key = (seed, epoch.isoformat(), rate)
        if key not in _worlds:
            _worlds[key] = DemoWorld(seed=seed, epoch=epoch.astimezone(UTC), rate_per_minute=rate)
        return _worlds[key]

    async def check(self) -> Health:
        world = self.world
        return Health(True, True, True, "demo desk", f"demo:{world.seed}:{world.epoch.isoformat()}")

    def _advanced(self) -> DemoWorld:
        world = self.world
        if world.steps_until(_now()) > MAX_STEPS:
            raise ConfigError("demo: the epoch is too far in the past for this rate")
        world.advance(_now())
        return world

    async def changes_since(self, cursor: str | None) -> ChangePage:
        world = self._advanced()
        state = json.loads(cursor) if cursor else {"s": -1, "w": 0}
        steps = [c for step, c in world.log if step > state["s"]][:PAGE_SIZE]
        last_step = state["s"]
        if steps:
            last_step = int(steps[-1].source_id.split(":")[1])
        written = world.written[state["w"] :][: PAGE_SIZE - len(steps)]
        changes = steps + written
        new_cursor = json.dumps({"s": last_step, "w": state["w"] + len(written)})
        more = any(step > last_step for step, _ in world.log) or (
            state["w"] + len(written) < len(world.written)
        )
        return ChangePage(changes=changes, cursor=new_cursor, has_more=more)

    async def get_ticket(self, external_id: str) -> TicketSnapshot:
        world = self._advanced()
        if external_id not in world.tickets:
            raise ConfigError(f"demo: no ticket {external_id}")
        return world.tickets[external_id].snapshot

    async def add_comment(
        self, external_id: str, body: str, visibility: Visibility, idempotency_key: str
    ) -> str:
        world = self._advanced()
        if external_id not in world.tickets:
            raise ConfigError(f"demo: no ticket {external_id}")
        return world.write_comment(external_id, body, visibility, idempotency_key, _now())
