"""Real receivers for the notification channels (see tests/notifications/receivers.py)."""

from tests.notifications.support import receiver, smtp_sink

__all__ = ["receiver", "smtp_sink"]
