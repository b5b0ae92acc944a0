"""Atom and RSS feeds of published status updates, per audience (feedgen)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from feedgen.feed import FeedGenerator
from sqlalchemy.ext.asyncio import AsyncSession

from app.status import repository
from app.status.lifecycle import ViewerAudience, label, readable_by
from app.status.public.render import to_html
from app.status.public.view import release_update

FEED_SIZE = 50
FeedFormat = Literal["atom", "rss"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    update_id: int
    incident_id: int
    title: str
    text: str
    published_at: datetime


async def feed_entries(session: AsyncSession, audience: ViewerAudience) -> list[FeedEntry]:
    """The newest published updates this audience may read, released for the feed channel."""
    readable = readable_by(audience)
    rows = await repository.recent_published(session, readable, FEED_SIZE)
    impacts = await repository.impacts_for(session, {incident.id for _, incident in rows})
    entries = []
    for update, incident in rows:
        released = release_update(update, incident, impacts[incident.id], audience, "feed")
        if released is None:
            continue  # as on the page: an incident on services this audience cannot see
        title = f"{released.title}: {label(released.status)}"
        entries.append(
            FeedEntry(
                released.update_id,
                released.incident_id,
                title,
                released.text,
                released.published_at,
            )
        )
    return entries


def render_feed(
    entries: list[FeedEntry], *, kind: FeedFormat, base_url: str, audience: ViewerAudience
) -> bytes:
    """The feed document. It never carries the reader's token: renderings are shared."""
    base_url = base_url.rstrip("/")
    page = f"{base_url}/status"
    feed = FeedGenerator()
    feed.id(f"{page}/feed/{audience}")
    feed.title("IT service status" + (" (employees)" if audience == "employees" else ""))
    feed.subtitle("Incidents and maintenance of the IT services")
    feed.link(href=page, rel="alternate")
    feed.link(href=f"{page}/feed.{kind}", rel="self")
    feed.language("en")
    if entries:
        feed.updated(max(e.published_at for e in entries))
    for entry in entries:
        item = feed.add_entry(order="append")
        item.id(f"{page}/updates/{entry.update_id}")
        item.guid(f"{page}/updates/{entry.update_id}", permalink=False)
        item.title(entry.title)
        item.link(href=f"{page}#incident-{entry.incident_id}")
        item.published(entry.published_at)
        item.updated(entry.published_at)
        item.content(str(to_html(entry.text)), type="html")
        item.description(entry.text)
    document: bytes = feed.atom_str(pretty=False) if kind == "atom" else feed.rss_str(pretty=False)
    return document
