"""Egress: the one door every channel passes before content leaves the service.

Each channel (in-app inbox, e-mail, webhook, apprise, status page, feed, subscribers,
write-back to the ticket) calls `guard_egress` with the facts of the message it is about to
hand out. It raises `InternalContentLeak` instead of returning when:

- internal content (internal chat, internal notes, internal status text) would reach anyone
  but an agent/admin, or a destination not marked internal, or the public audience;
- employees-only status content would reach the public (a public recipient, the public
  audience, a public broadcast channel, or an unmarked external destination);
- a ticket's content would reach someone who may not see that ticket.

This deliberately repeats what the evaluator already decided, with its own code: if a rule,
a caller or the evaluator is ever wrong, the message still does not go out, and the
exception makes the failure loud (the delivery job fails and stays visible).
"""

from __future__ import annotations

from typing import Literal

ContentVisibility = Literal["public", "employees", "internal"]

_STAFF_ROLES = frozenset({"admin", "agent"})
_KNOWN_ROLES = frozenset({"admin", "agent", "end_user", "public", "external"})
_VISIBILITIES = frozenset({"public", "employees", "internal"})
_BROADCAST_CHANNELS = frozenset({"status_page", "feed", "subscribers"})
_MARKABLE_CHANNELS = frozenset({"webhook", "apprise", "ticket"})


class InternalContentLeak(RuntimeError):
    """Content was about to leave the service for someone who must not read it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"egress refused: {reason}")


def destination_is_internal(channel: str, recipient_role: str, *, marked_internal: bool) -> bool:
    """Whether a destination is staff-only (a staff inbox/mailbox, or a marked destination)."""
    # Webhook, apprise and ticket destinations count only once an admin marked them
    # internal; status page, feed and subscribers never do.
    if channel in _BROADCAST_CHANNELS or recipient_role in ("public", "end_user"):
        return False
    if channel in _MARKABLE_CHANNELS:
        return marked_internal
    return recipient_role in _STAFF_ROLES and channel in ("in_app", "email")


def guard_egress(
    content_visibility: ContentVisibility,
    recipient_role: str,
    destination_internal: bool,
    audience: str | None,
    *,
    may_see_ticket: bool,
    channel: str,
) -> None:
    """Raise InternalContentLeak unless this content may go to this recipient and place."""
    # `content_visibility` is that of the body actually sent: a status update's public body
    # is `public` or `employees`, its internal body `internal`. `may_see_ticket` is True for
    # content about no ticket (status updates).
    if content_visibility not in _VISIBILITIES:
        raise InternalContentLeak(f"unknown content visibility {content_visibility!r}")
    if recipient_role not in _KNOWN_ROLES:
        raise InternalContentLeak(f"unknown recipient role {recipient_role!r}")
    if not may_see_ticket:
        raise InternalContentLeak("the recipient may not see this ticket")
    broadcast = channel in _BROADCAST_CHANNELS
    if content_visibility == "internal":
        _guard_internal(recipient_role, destination_internal, audience, broadcast=broadcast)
    elif content_visibility == "employees":
        public_facing = recipient_role == "public" or audience == "public" or broadcast
        if public_facing or (recipient_role == "external" and not destination_internal):
            raise InternalContentLeak("employees-only status content would reach the public")


def _guard_internal(
    role: str, destination_internal: bool, audience: str | None, *, broadcast: bool
) -> None:
    if role not in _STAFF_ROLES and role != "external":
        raise InternalContentLeak(f"internal content would reach a {role} recipient")
    if not destination_internal:
        raise InternalContentLeak("internal content would reach a destination not marked internal")
    if audience == "public" or broadcast:
        raise InternalContentLeak("internal content would reach the public audience")
