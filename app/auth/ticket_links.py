"""Ticket links: a requester opens their ticket's conversation from an e-mail, no password.

Every ticket e-mail to an end user links to `/t/<token>`: signed (HMAC, per-purpose key),
naming the person and the ticket, expiring after `LINK_TTL`. Opening it starts a session
scoped to that one ticket: its page and conversation, following it, the person's
preferences, and nothing else (`scope_allows`), so a forwarded mail reaches no other
ticket. Staff never get such links: they sign in, and a link naming a staff member opens
nothing. Links are revoked by the time they were issued (`TicketLinkRevocation`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import AppError
from app.kit.signing import BadToken, Signer
from app.models import Role, TicketLinkRevocation, User
from app.tickets.repository import get_visible

PURPOSE = "ticket-link"
LINK_TTL = timedelta(days=14)
# A link session is short: it is for answering, not for living in.
SESSION_LIFETIME = timedelta(hours=12)


class LinkRefused(AppError):
    status_code, code = 410, "link_refused"


def ticket_link(
    signer: Signer, base_url: str, *, user_id: int, ticket_id: int, now: datetime
) -> str:
    claims = {"u": user_id, "t": ticket_id, "i": int(now.timestamp())}
    return f"{base_url.rstrip('/')}/t/{signer.sign(claims, now=now, ttl=LINK_TTL)}"


async def do_open_link(
    session: AsyncSession, signer: Signer, token: str, *, now: datetime
) -> tuple[User, int]:
    """The requester and ticket a genuine, live link opens; LinkRefused otherwise."""
    try:
        claims = signer.verify(token, now=now)
    except BadToken as exc:
        expired = str(exc) == "expired token"
        raise LinkRefused(
            "This link has expired." if expired else "This link is not valid.",
            code="link_expired" if expired else "link_invalid",
        ) from None
    user_id, ticket_id, issued = claims.get("u"), claims.get("t"), claims.get("i")
    if not (isinstance(user_id, int) and isinstance(ticket_id, int) and isinstance(issued, int)):
        raise LinkRefused("This link is not valid.", code="link_invalid")
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise LinkRefused("This link is not valid.", code="link_invalid")
    if user.role is not Role.END_USER:
        raise LinkRefused("Staff sign in instead.", code="link_for_staff")
    issued_at = datetime.fromtimestamp(issued, UTC)
    revoked = await session.scalar(
        select(TicketLinkRevocation.id).where(
            TicketLinkRevocation.user_id == user_id,
            or_(
                TicketLinkRevocation.ticket_id.is_(None),
                TicketLinkRevocation.ticket_id == ticket_id,
            ),
            TicketLinkRevocation.revoked_before >= issued_at,
        )
    )
    if revoked is not None:
        raise LinkRefused("This link has been revoked.", code="link_revoked")
    if await get_visible(session, user, ticket_id) is None:
        raise LinkRefused("This link is not valid.", code="link_invalid")
    return user, ticket_id


async def do_revoke_links(
    session: AsyncSession, *, user_id: int, ticket_id: int | None, now: datetime
) -> None:
    """Links already sent to the person (for one ticket, or all) open nothing any more."""
    session.add(TicketLinkRevocation(user_id=user_id, ticket_id=ticket_id, revoked_before=now))
    await session.flush()


# What a link session may reach, besides its ticket's own paths.
# Attachments are checked against the scope by their endpoint (the path has no ticket).
_ALWAYS = re.compile(
    r"^/(logout|preferences|api/v1/me|api/v1/me/preferences|api/v1/attachments/\d+)$"
)


_TICKET_PATH = re.compile(r"^(?:/api/v1)?/tickets/(\d+)(?:/.*)?$")


def scope_allows(path: str, ticket_id: int) -> bool:
    """Whether a session scoped to `ticket_id` may request `path` (checked per request)."""
    if _ALWAYS.match(path):
        return True
    found = _TICKET_PATH.match(path)
    return found is not None and int(found[1]) == ticket_id
