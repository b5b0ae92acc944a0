"""Chat apps (Slack, Teams, Discord, ...) through Apprise URLs.

Apprise's `async_notify` is used; its plugins are built on blocking HTTP and Apprise runs
them on its own executor, which is the one place blocking I/O runs off the event loop.
Apprise has no message id, so a resend after a crash can show twice in a chat app.
"""

from __future__ import annotations

from typing import ClassVar

import apprise

from app.notifications.channels import ChannelBase, DeliveryResult
from app.notifications.content import OutboundMessage, check_egress, render_text


class AppriseChannel(ChannelBase):
    key: ClassVar[str] = "apprise"

    def __init__(self, *, timeout: float = 30) -> None:
        self.timeout = timeout

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        check_egress(message)
        target = message.target
        notifier = apprise.Apprise()
        if target is None or not notifier.add(target.url):
            return DeliveryResult.failed("not a usable Apprise URL", permanent=True)
        result = await notifier.async_notify(
            body=render_text(message),
            title=message.subject,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self.timeout,
        )
        if result:
            return DeliveryResult.sent(f"apprise: {result.success_count} service(s)")
        return DeliveryResult.failed(f"apprise: {result.status.name.lower()}")
