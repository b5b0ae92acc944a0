"""One poll's bookkeeping: the page being filled, the listing's JQL, and what one changed
issue adds to the page (see `cursor.py` for why this is exactly once)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.feed import Page
from connectors.jira_sm.changes import IssueTranslator
from connectors.jira_sm.cursor import INCOMPLETE, OVERLAP, JiraCursor, Known
from connectors.jira_sm.models import History, Issue, RequestComment, iso


def jql_minute(moment: datetime, zone: ZoneInfo) -> str:
    """A JQL date literal for the minute of `moment` (rounded down) in the account's zone."""
    return moment.astimezone(zone).strftime("%Y/%m/%d %H:%M")


def listing_jql(project: str, floor: datetime | None, zone: ZoneInfo) -> str:
    """The project's issues updated from `floor`'s minute on, in (`updated`, `id`) order."""
    terms = [f'project = "{project}"']
    if floor is not None:
        terms.append(f'updated >= "{jql_minute(floor, zone)}"')
    return " AND ".join(terms) + " ORDER BY updated ASC, id ASC"


def emit_issue(
    translator: IssueTranslator,
    issue: Issue,
    histories: list[History],
    comments: list[RequestComment],
    state: JiraCursor,
    page: Page,
) -> bool:
    """Add the issue's unseen changes to the page; False when they did not all fit.

    First sight: CREATED when created in the window; then its changelog entries and
    comments not emitted yet, oldest first (a changelog entry's items all on one page).
    Only when all are in does the issue count as current.
    """
    snap = translator.snapshot(issue)
    known = state.known.get(issue.id)
    window = state.window_start()
    added = 0
    first = known is None
    if known is None:
        known = Known(INCOMPLETE, None if window is None else iso(window))
        if window is None or issue.fields.created >= window:
            if not page.fits(1):
                return False
            page.changes.append(translator.created(issue, snap))
            added += 1
        state.known[issue.id] = known
    items: list[tuple[datetime, int, str, History | RequestComment]] = []
    items += [(h.created, 0, f"h{h.id}", h) for h in histories]
    items += [(c.created, 1, f"c{c.id}", c) for c in comments]
    for created, _, mark, item in sorted(items, key=lambda t: (t[0], t[1], _numeric(t[2]))):
        if known.emitted_before(mark, created):
            continue
        if isinstance(item, History):
            changes = translator.history(item, snap)
        else:
            changes = [translator.comment(item, snap)]
        if not page.fits(len(changes)):
            known.updated = INCOMPLETE
            return False
        page.changes += changes
        added += len(changes)
        known.items[mark] = iso(created)
    if first and added == 0:
        if not page.fits(1):
            return False
        page.changes.append(translator.first_seen(issue, snap))
    floor = iso(issue.fields.updated - OVERLAP)
    known.floor = max(known.floor or floor, floor)
    known.updated = iso(issue.fields.updated)
    return True


def _numeric(mark: str) -> tuple[int, str]:
    digits = mark[1:]
    return (int(digits), "") if digits.isdigit() else (0, digits)
