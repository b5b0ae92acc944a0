"""Password-free ticket links: the requester's mail opens that ticket's conversation, and
only that ticket, whoever the mail is forwarded to (real SMTP server, the app over ASGI)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import sessions
from app.auth.ticket_links import PURPOSE, do_revoke_links, ticket_link
from app.kit.clock import utcnow
from app.kit.signing import Signer
from app.models import Role, Ticket, User
from tests.conftest import TEST_SECRET_KEY
from tests.factories import auth, create_ticket, create_user
from tests.notifications.receivers import SmtpSink
from tests.notifications.support import BASE_URL, decision, enqueue, make_relay, ticket_event

SIGNER = Signer(TEST_SECRET_KEY, PURPOSE)


async def _mailed_link(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    sink: SmtpSink,
    url: str,
    user: User,
    ticket: Ticket,
) -> str:
    event = ticket_event(ticket, old="open", new="pending")
    await enqueue(session, event, [decision(event, f"user:{user.id}", "email")], ticket)
    assert await make_relay(db, smtp_url=url).drain() == 1
    body = sink.messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    text = str(body.get_content())
    assert f"{BASE_URL}/tickets/{ticket.id}" not in text or user.role.is_staff
    found = re.search(rf"{re.escape(BASE_URL)}(/t/[A-Za-z0-9_.-]+)", text)
    return found[1] if found else ""


async def _csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None, page.text[:300]
    return found[1]


async def test_a_requesters_mail_opens_that_ticket_and_only_that_ticket(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    client: httpx.AsyncClient,
) -> None:
    sink, url = smtp_sink
    erin, _ = await create_user(session, name="Erin Employee")
    mailed = await create_ticket(session, requester=erin, title="VPN drops every hour")
    other = await create_ticket(session, requester=erin, title="Salary question")
    path = await _mailed_link(db, session, sink, url, erin, mailed)
    assert path, "the requester's mail has no ticket link"

    opened = await client.get(path)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/tickets/{mailed.id}"
    page = await client.get(f"/tickets/{mailed.id}")
    assert page.status_code == 200
    assert "VPN drops every hour" in page.text
    me = await client.get("/api/v1/me")
    assert me.json()["id"] == erin.id

    # She can answer there, as herself.
    csrf = await _csrf(client, f"/tickets/{mailed.id}")
    reply = await client.post(
        f"/api/v1/tickets/{mailed.id}/messages",
        json={"body": "Still dropping", "visibility": "public"},
        headers={"X-CSRF-Token": csrf},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["author"]["id"] == erin.id

    # Whoever holds the link reaches nothing else: not her other ticket, not her inbox,
    # and no way to widen the session (an API token would be a key to everything).
    elsewhere = await client.get(f"/tickets/{other.id}")
    assert elsewhere.status_code == 303
    assert elsewhere.headers["location"].startswith("/login")
    api = await client.get(f"/api/v1/tickets/{other.id}")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "link_scope"
    listing = await client.get("/api/v1/tickets")
    assert listing.status_code == 403
    assert (await client.get("/inbox")).status_code == 303
    preferences = await client.get("/preferences")  # reachable, but shows this ticket only
    assert preferences.status_code == 200
    assert "VPN drops every hour" in preferences.text
    assert "Salary question" not in preferences.text
    token = await client.post(
        "/api/v1/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert token.status_code == 403
    assert (await client.get("/tokens")).status_code == 303


async def test_staff_mails_link_the_page_and_a_link_naming_staff_opens_nothing(
    db: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    smtp_sink: tuple[SmtpSink, str],
    client: httpx.AsyncClient,
) -> None:
    sink, url = smtp_sink
    agent, _ = await create_user(session, role=Role.AGENT)
    requester, _ = await create_user(session)
    ticket = await create_ticket(session, requester=requester)
    assert await _mailed_link(db, session, sink, url, agent, ticket) == ""
    forged_for_staff = ticket_link(
        SIGNER, BASE_URL, user_id=agent.id, ticket_id=ticket.id, now=utcnow()
    ).removeprefix(BASE_URL)
    refused = await client.get(forged_for_staff)
    assert refused.status_code == 403
    assert "Staff sign in" in refused.text
    assert "sd_session" not in refused.cookies


async def test_expired_forged_revoked_and_foreign_links_are_refused_with_a_page(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    erin, _ = await create_user(session)
    sam, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin)
    now = utcnow()

    def link(user: User, at: datetime = now) -> str:
        return ticket_link(SIGNER, BASE_URL, user_id=user.id, ticket_id=ticket.id, now=at)

    expired = link(erin, now - timedelta(days=15)).removeprefix(BASE_URL)
    forged = link(erin).removeprefix(BASE_URL)[:-3] + "AAA"
    not_hers = link(sam).removeprefix(BASE_URL)  # Sam may not see Erin's ticket
    for path, words in ((expired, "expired"), (forged, "not valid"), (not_hers, "not valid")):
        refused = await client.get(path)
        assert refused.status_code == 410, path
        assert words in refused.text
        assert "sd_session" not in refused.cookies

    live = link(erin).removeprefix(BASE_URL)
    await do_revoke_links(session, user_id=erin.id, ticket_id=ticket.id, now=utcnow())
    revoked = await client.get(live)
    assert revoked.status_code == 410
    assert "revoked" in revoked.text
    fresh = link(erin, utcnow() + timedelta(seconds=2)).removeprefix(BASE_URL)
    assert (await client.get(fresh)).status_code == 303  # links sent after it work again


async def test_a_full_session_is_kept_when_its_owner_opens_a_link(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    erin, _ = await create_user(session)
    ticket = await create_ticket(session, requester=erin)
    other = await create_ticket(session, requester=erin)
    cookie, _ = await sessions.do_start_session(session, user=erin)
    client.cookies.set(sessions.COOKIE, cookie)
    path = ticket_link(SIGNER, BASE_URL, user_id=erin.id, ticket_id=ticket.id, now=utcnow())
    opened = await client.get(path.removeprefix(BASE_URL))
    assert opened.status_code == 303
    assert "sd_session" not in opened.cookies  # not replaced by a narrower one
    assert (await client.get(f"/tickets/{other.id}")).status_code == 200


async def test_people_and_admins_revoke_mailed_links(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    erin, erin_token = await create_user(session)
    _, admin_token = await create_user(session, role=Role.ADMIN)
    _, agent_token = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session, requester=erin)
    earlier = utcnow() - timedelta(seconds=5)

    def link() -> str:
        return ticket_link(
            SIGNER, BASE_URL, user_id=erin.id, ticket_id=ticket.id, now=earlier
        ).removeprefix(BASE_URL)

    mailed = link()
    mine = await client.post("/api/v1/me/ticket-links/revoke", headers=auth(erin_token))
    assert mine.status_code == 204
    assert (await client.get(mailed)).status_code == 410

    denied = await client.post(
        f"/api/v1/users/{erin.id}/ticket-links/revoke", headers=auth(agent_token)
    )
    assert denied.status_code == 403
    missing = await client.post(
        "/api/v1/users/999999/ticket-links/revoke", headers=auth(admin_token)
    )
    assert missing.status_code == 404
    by_admin = await client.post(
        f"/api/v1/users/{erin.id}/ticket-links/revoke",
        params={"ticket_id": ticket.id},
        headers=auth(admin_token),
    )
    assert by_admin.status_code == 204
    audit = await client.get(
        "/api/v1/identity/audit", params={"user_id": erin.id}, headers=auth(admin_token)
    )
    assert [e["action"] for e in audit.json()["items"]] == ["links_revoked", "links_revoked"]
