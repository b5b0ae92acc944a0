"""Counting attempts per key in fixed windows: sign-in failures, subscription requests.

`AttemptLimits.check` raises `TooManyAttempts` (429, with the seconds to wait) once a key
used its allowance in the current window; `record` counts one attempt. With Redis the
counts are shared by every replica (INCR plus EXPIRE on the window's first attempt), so a
guesser gains nothing by spreading attempts across them; without Redis (one process, the
embedded shape) they live in this process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as redis

from app.kit.errors import AppError


class TooManyAttempts(AppError):
    status_code, code = 429, "rate_limited"

    def __init__(self, what: str, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"too many {what}; try again in {minutes} minute{'s' if minutes > 1 else ''}",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Allowance:
    what: str  # said in the refusal: "sign-in attempts"
    attempts: int
    window_seconds: int


# The allowances of the service (per window): generous for people, useless for scripts.
SIGN_IN_PER_ACCOUNT = Allowance("sign-in attempts for this account", 10, 15 * 60)
SIGN_IN_PER_ADDRESS = Allowance("sign-in attempts from this address", 50, 15 * 60)
SUBSCRIBE_PER_EMAIL = Allowance("confirmation mails to this address", 3, 60 * 60)
SUBSCRIBE_PER_ADDRESS = Allowance("subscription requests from this address", 20, 60 * 60)
SOCKET_AUTH_PER_ADDRESS = Allowance("failed sign-ins on the live connection", 30, 15 * 60)


class _Counter(Protocol):
    async def count(self, key: str) -> tuple[int, int]: ...
    async def add(self, key: str, window: int) -> None: ...
    async def clear(self, key: str) -> None: ...


class _MemoryCounter:
    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}

    async def count(self, key: str) -> tuple[int, int]:
        found = self._counts.get(key)
        if found is None or found[1] <= time.monotonic():
            return 0, 0
        return found[0], math.ceil(found[1] - time.monotonic())

    async def add(self, key: str, window: int) -> None:
        now = time.monotonic()
        if len(self._counts) > 100_000:  # forget expired windows rather than grow forever
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        count, until = self._counts.get(key, (0, 0.0))
        if until <= now:
            count, until = 0, now + window
        self._counts[key] = (count + 1, until)

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)


class _RedisCounter:
    def __init__(self, url: str) -> None:
        self._client: Any = redis.from_url(url)

    async def count(self, key: str) -> tuple[int, int]:
        value, ttl = await self._client.pipeline().get(key).ttl(key).execute()
        return (int(value), max(int(ttl), 1)) if value is not None else (0, 0)

    async def add(self, key: str, window: int) -> None:
        count, _ = await self._client.pipeline().incr(key).expire(key, window, nx=True).execute()
        del count

    async def clear(self, key: str) -> None:
        await self._client.delete(key)

    async def close(self) -> None:
        await self._client.aclose()


class AttemptLimits:
    def __init__(self, redis_url: str | None = None) -> None:
        self._counter: _Counter = _RedisCounter(redis_url) if redis_url else _MemoryCounter()

    @staticmethod
    def _key(allowance: Allowance, subject: str) -> str:
        return f"sd:attempts:{allowance.what}:{subject.strip().lower()}"

    async def check(self, allowance: Allowance, subject: str) -> None:
        """Raise TooManyAttempts when `subject` used up `allowance` in this window."""
        count, retry_after = await self._counter.count(self._key(allowance, subject))
        if count >= allowance.attempts:
            raise TooManyAttempts(allowance.what, retry_after)

    async def record(self, allowance: Allowance, subject: str) -> None:
        await self._counter.add(self._key(allowance, subject), allowance.window_seconds)

    async def take(self, allowance: Allowance, subject: str) -> None:
        """Check, then count this attempt (for requests that count whether or not they work)."""
        await self.check(allowance, subject)
        await self.record(allowance, subject)

    async def clear(self, allowance: Allowance, subject: str) -> None:
        await self._counter.clear(self._key(allowance, subject))

    async def close(self) -> None:
        if isinstance(self._counter, _RedisCounter):
            await self._counter.close()
