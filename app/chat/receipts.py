"""Read receipts: who has read a ticket's conversation up to where, as a viewer may know it.

Agents see every other participant's marker, by name. End users see the service desk's
reads only, as one marker ("the service desk", wherever the furthest agent is), and
never at an internal message: a marker past public messages shows at the latest public
message at or before it, or not at all. Live, the `read` frame follows the same rule
(`service.do_mark_read`: an end user's read reaches staff only, a read of an internal
message too).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import repository
from app.models import User
from app.tickets.service import check_ticket_visible

DESK_KEY = "desk"
DESK_NAME = "the service desk"


@dataclass(frozen=True)
class Receipt:
    """One marker: `key` is `user:<id>` (agents' view) or `desk` (end users' view)."""

    key: str
    name: str
    message_id: int


async def receipts_for(session: AsyncSession, *, viewer: User, ticket_id: int) -> list[Receipt]:
    """The markers `viewer` may see on the ticket (never their own)."""
    await check_ticket_visible(session, user=viewer, ticket_id=ticket_id)
    others = [
        (user, last)
        for user, last in await repository.read_states(session, ticket_id)
        if user.id != viewer.id
    ]
    if viewer.role.is_staff:
        return [Receipt(f"user:{user.id}", user.name, last) for user, last in others]
    furthest = max((last for user, last in others if user.role.is_staff), default=None)
    if furthest is None:
        return []
    public = await repository.last_public_message_at_or_before(session, ticket_id, furthest)
    return [] if public is None else [Receipt(DESK_KEY, DESK_NAME, public)]


def place_receipts(receipts: list[Receipt], shown: list[int]) -> dict[int, list[Receipt]]:
    """Markers by the shown message they sit under: the latest shown at or before theirs.

    A marker before every shown message (older than the page) is left out.
    """
    ordered = sorted(shown)
    placed: dict[int, list[Receipt]] = {}
    for receipt in receipts:
        at = [i for i in ordered if i <= receipt.message_id]
        if at:
            placed.setdefault(at[-1], []).append(receipt)
    return placed
