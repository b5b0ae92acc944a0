"""The limits of ticket chat, in one place, and the per-user send rate limiter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from app.kit.errors import AppError

MAX_BODY_CHARS = 10_000
MAX_ATTACHMENTS = 10  # per message; SOCIALDESK_ATTACHMENTS_PER_MESSAGE overrides it


@dataclass(frozen=True)
class ChatLimits:
    """Per-process limits; tests and the benchmark build their own."""

    max_frame_bytes: int = 64 * 1024
    max_body_chars: int = MAX_BODY_CHARS
    # Token bucket per user: a burst of `send_burst` messages, refilled at `send_rate`/s.
    send_rate: float = 5.0
    send_burst: int = 20
    # Frames waiting for one socket; a client further behind is disconnected (1013).
    send_queue_frames: int = 1024
    # The same bound in bytes where frames go straight to the socket's transport: above
    # what one writer batch can send a socket at once (200 messages of up to 40 KB), so a
    # burst is not mistaken for lag.
    send_buffer_bytes: int = 16 * 1024 * 1024
    # Messages of one socket accepted but not yet acknowledged (bounds memory if the
    # database is slow).
    max_in_flight: int = 100
    max_subscriptions: int = 200
    backlog_messages: int = 200
    backlog_events: int = 100
    # A `subscribed` frame stays under about this size (browsers and client libraries
    # have frame limits too); `has_more` tells the client to page the rest over HTTP.
    backlog_bytes: int = 512 * 1024
    auth_timeout_seconds: float = 10.0
    # Typing frames from one socket and ticket are relayed at most this often.
    typing_interval_seconds: float = 1.0
    max_attachments: int = MAX_ATTACHMENTS


class SendRateLimited(AppError):
    status_code, code = 429, "rate_limited"


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class SendRateLimiter:
    """Token buckets per user id, in this process (replicas each keep their own)."""

    rate: float
    burst: int
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def retry_after(self, user_id: int) -> float | None:
        """Take one send from the user's bucket; seconds to wait when it is empty."""
        now = time.monotonic()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > 50_000:  # forget idle users rather than grow forever
                self._buckets.clear()
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return round((1.0 - bucket.tokens) / self.rate, 3)

    def check(self, user_id: int) -> None:
        """Raise SendRateLimited (429) when the user sends faster than allowed."""
        wait = self.retry_after(user_id)
        if wait is not None:
            raise SendRateLimited(
                f"too many messages; retry in {wait:.2f} s", details={"retry_after": wait}
            )
