"""One poll's bookkeeping: the page being filled and what one changed ticket adds to it
(see `cursor.py` for why this is exactly once)."""

from __future__ import annotations

from datetime import datetime

from connectors.feed import Page
from connectors.zendesk.changes import TicketTranslator
from connectors.zendesk.cursor import INCOMPLETE, Known, ZendeskCursor
from connectors.zendesk.mapping import TERMINAL
from connectors.zendesk.models import Tracked, ZendeskComment, ZendeskTicket


def description_is_public(comments: list[ZendeskComment]) -> bool:
    """Zendesk's description is the first comment: public text only if that one is."""
    if not comments:
        return False
    first = min(comments, key=lambda c: (c.created_at, c.id))
    return first.public


def emit_ticket(
    translator: TicketTranslator,
    ticket: ZendeskTicket,
    comments: list[ZendeskComment],
    state: ZendeskCursor,
    page: Page,
    *,
    in_scope: bool,
    all_comments: bool,
) -> bool:
    """Add the ticket's unseen changes to the page; False when they did not all fit.

    First sight: CREATED (or "first seen"); then its comments not emitted yet, oldest
    first; then the differences from the kept values. Only when all are in does the
    ticket count as current; otherwise the next page goes on where this one stopped.
    `in_scope` False: the ticket left the group — its move is emitted, then it is dropped.
    """
    comments = sorted(comments, key=lambda c: (c.created_at, c.id))
    known = state.known.get(ticket.id)
    if known is None:
        public = description_is_public(comments) if all_comments else False
        snap = translator.snapshot(ticket, description_public=public)
        created = int(ticket.created_at.timestamp())
        first = (
            translator.created(ticket, snap)
            if state.start == 0 or created >= state.floor
            else translator.first_seen(ticket, snap)
        )
        if not page.fits(1):
            return False
        page.changes.append(first)
        known = Known(INCOMPLETE, Tracked.of(ticket), done=False, description_public=public)
        state.known[ticket.id] = known
    elif all_comments:
        known.description_public = description_is_public(comments)
    snap = translator.snapshot(ticket, description_public=known.description_public)
    if in_scope:
        for comment in comments:
            if known.emitted(comment, state.floor):
                continue
            if not page.fits(1):
                return _incomplete(known)
            page.changes.append(translator.comment(comment, snap))
            known.note_emitted(comment)
    differences = translator.differences(known.values, ticket, snap)
    if not page.fits(len(differences)):
        return _incomplete(known)
    page.changes += differences
    if not in_scope:
        del state.known[ticket.id]
        return True
    known.generated = ticket.generated_timestamp
    known.values = Tracked.of(ticket)
    known.done = True
    known.terminal = ticket.status in TERMINAL
    return True


def _incomplete(known: Known) -> bool:
    known.done = False
    known.generated = INCOMPLETE
    return False


def comments_since(comments: list[ZendeskComment], mark: int | None) -> bool:
    """Whether a newest-first listing has reached comments older than `mark`."""
    if mark is None:
        return False
    oldest: datetime = min(c.created_at for c in comments)
    return int(oldest.timestamp()) < mark
