"""Chat apps (Slack, Teams, Discord, ...) through Apprise URLs.

Apprise's `async_notify` is used; its plugins are built on blocking HTTP and Apprise runs
them on its own executor, which is the one place blocking I/O runs off the event loop.
Apprise has no message id, so a resend after a crash can show twice in a chat app.
Unless private destinations are allowed, a URL whose plugin sends to a host the URL chose
(json://, xml://, form://, gotify://, mailto://, ...; see `destinations`) is refused when
that host is or resolves to a private-network address, a final failure, and the plugin
does not follow HTTP redirects (one could lead past that check).
"""

from __future__ import annotations

from typing import ClassVar

import apprise

from app.notifications.channels import ChannelBase, DeliveryResult
from app.notifications.channels.destinations import plugin_hosts, refused_send
from app.notifications.content import OutboundMessage, check_egress, render_text


class AppriseChannel(ChannelBase):
    key: ClassVar[str] = "apprise"

    def __init__(self, *, timeout: float = 30, allow_private: bool = False) -> None:
        self.timeout = timeout
        self.allow_private = allow_private

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        check_egress(message)
        target = message.target
        notifier = apprise.Apprise()
        if target is None or not notifier.add(target.url):
            return DeliveryResult.failed("not a usable Apprise URL", permanent=True)
        if not self.allow_private:
            plugins = list(notifier)
            refused = await refused_send([h for p in plugins for h in plugin_hosts(p)], "apprise")
            if refused is not None:
                return refused
            for plugin in plugins:
                plugin.redirects = False
        result = await notifier.async_notify(
            body=render_text(message),
            title=message.subject,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self.timeout,
        )
        if result:
            return DeliveryResult.sent(f"apprise: {result.success_count} service(s)")
        return DeliveryResult.failed(f"apprise: {result.status.name.lower()}")
