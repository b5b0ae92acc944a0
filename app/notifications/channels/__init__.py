"""Notification channels: one tiny async contract, chosen by key.

    async def send(message: OutboundMessage) -> DeliveryResult

Every channel calls `check_egress(message)` before anything leaves the service; it raises
`InternalContentLeak`, which the relay records as a refused (dead) delivery. `send_many`
lets a channel hand out a batch at once (the inbox writes a batch in one transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from app.notifications.content import OutboundMessage
from app.policy.guard.egress import InternalContentLeak


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one send ended: `ok`, or an error and whether retrying could help."""

    ok: bool
    detail: str = ""
    permanent: bool = False

    @classmethod
    def sent(cls, detail: str = "") -> DeliveryResult:
        return cls(True, detail)

    @classmethod
    def failed(cls, detail: str, *, permanent: bool = False) -> DeliveryResult:
        return cls(False, detail[:2000], permanent)


Outcome = DeliveryResult | InternalContentLeak


class Channel(Protocol):
    key: ClassVar[str]

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[Outcome]: ...

    async def close(self) -> None: ...


class ChannelBase:
    """`send_many` as bounded concurrent `send`s; a refusal is returned, not raised."""

    key: ClassVar[str] = ""
    concurrency: int = 8

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        raise NotImplementedError

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(message: OutboundMessage) -> Outcome:
            async with gate:
                try:
                    return await self.send(message)
                except InternalContentLeak as leak:
                    return leak
                except Exception as exc:  # a channel bug must not take the batch down
                    return DeliveryResult.failed(f"{type(exc).__name__}: {exc}")

        return list(await asyncio.gather(*(one(m) for m in messages)))

    async def close(self) -> None:
        return None


Channels = Mapping[str, Channel]
