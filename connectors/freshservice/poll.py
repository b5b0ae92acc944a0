"""One poll's bookkeeping: the page being filled and what one changed ticket adds to it
(see `cursor.py` for why this is exactly once)."""

from __future__ import annotations

from connectors.feed import Page
from connectors.freshservice.changes import TicketTranslator, tracked
from connectors.freshservice.cursor import INCOMPLETE, OVERLAP, FreshserviceCursor, Known
from connectors.freshservice.models import Conversation, Ticket, iso


def emit_ticket(
    translator: TicketTranslator,
    ticket: Ticket,
    conversations: list[Conversation],
    state: FreshserviceCursor,
    page: Page,
) -> bool:
    """Add the ticket's unseen changes to the page; False when they did not all fit.

    First sight: CREATED (or "first seen"); then its conversations not emitted yet, oldest
    first; then the differences from the kept values. Only when all are in does the ticket
    count as current; otherwise the next page goes on where this one stopped.
    """
    snap = translator.snapshot(ticket)
    known = state.known.get(ticket.id)
    if known is None:
        window = state.window_start()
        if window is None or ticket.created_at >= window:
            first = translator.created(ticket, snap)
        else:
            first = translator.first_seen(ticket, snap)
        if not page.fits(1):
            return False
        page.changes.append(first)
        floor = None if window is None else iso(window)
        known = Known(INCOMPLETE, tracked(ticket), floor)
        state.known[ticket.id] = known
    for conversation in sorted(conversations, key=lambda c: (c.created_at, c.id)):
        if known.emitted_before(conversation.id, conversation.created_at):
            continue
        if not page.fits(1):
            known.updated = INCOMPLETE
            return False
        page.changes.append(translator.conversation(conversation, snap))
        known.items[str(conversation.id)] = iso(conversation.created_at)
    differences = translator.differences(known.values, ticket, snap)
    if not page.fits(len(differences)):
        known.updated = INCOMPLETE
        return False
    page.changes += differences
    floor = iso(ticket.updated_at - OVERLAP)
    known.floor = max(known.floor or floor, floor)
    known.updated = iso(ticket.updated_at)
    known.values = tracked(ticket)
    return True
