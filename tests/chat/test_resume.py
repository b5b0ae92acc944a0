"""A client that comes back gets exactly what it missed: new messages, and the edits and
deletions made meanwhile to messages it already had, in the order they happened."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.service import do_issue_token
from app.chat.limits import ChatLimits
from app.db import unit_of_work
from app.models import ChatMessage, User
from tests.chat.wsclient import ChatClient

if TYPE_CHECKING:
    from tests.chat.live import ChatServer, Desk

pytest_plugins = ["tests.chat.live"]


async def _subscribe(client: ChatClient, ticket_id: int, **extra: Any) -> dict[str, Any]:
    await client.send(type="subscribe", ticket_id=ticket_id, **extra)
    return await client.expect("subscribed", ticket_id=ticket_id)


async def _say(agent: ChatClient, ticket_id: int, body: str, visibility: str = "public") -> int:
    await agent.send(
        type="message", ticket_id=ticket_id, body=body, visibility=visibility, client_msg_id=body
    )
    return int((await agent.expect("ack", client_msg_id=body))["message_id"])


def _summary(frames: list[dict[str, Any]]) -> list[tuple[str, int, str | None]]:
    """(type, message id, body) per chat frame: what a test compares."""
    found: list[tuple[str, int, str | None]] = []
    for frame in frames:
        if frame["type"] == "message_deleted":
            found.append(("message_deleted", frame["message_id"], None))
        elif frame["type"] in ("message", "message_updated"):
            found.append((frame["type"], frame["message"]["id"], frame["message"]["body"]))
    return found


async def _edit(http: httpx.AsyncClient, message_id: int, body: str) -> dict[str, Any]:
    response = await http.patch(f"/api/v1/messages/{message_id}", json={"body": body})
    assert response.status_code == 200, response.text
    edited: dict[str, Any] = response.json()
    return edited


async def _delete(http: httpx.AsyncClient, message_id: int) -> None:
    response = await http.delete(f"/api/v1/messages/{message_id}")
    assert response.status_code == 204, response.text


async def test_a_resume_replays_edits_and_deletions_in_order_and_never_internal_ones(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    agent = await chat_server.client(desk.agent_token)
    requester = await chat_server.client(desk.requester_token)
    await _subscribe(requester, ticket_id)
    m1 = await _say(agent, ticket_id, "one")
    m2 = await _say(agent, ticket_id, "two")
    note = await _say(agent, ticket_id, "note: check the VPN logs", "internal")
    m3 = await _say(agent, ticket_id, "three")
    for body in ("one", "two", "three"):
        await requester.expect("message", body=body)
    await requester.close()  # it has seen messages 1..3 (and never the note)

    async with chat_server.http(desk.agent_token) as http:
        await _edit(http, m2, "two, corrected")
        await _delete(http, m3)
        m4 = await _say(agent, ticket_id, "four")
        await _edit(http, note, "note: it was the certificate")

    # An existing client: it sends only the last message id it saw.
    back = await chat_server.client(desk.requester_token)
    subscribed = await _subscribe(back, ticket_id, since=m3)
    assert _summary(subscribed["backlog"]) == [
        ("message_updated", m2, "two, corrected"),
        ("message_deleted", m3, None),
        ("message", m4, "four"),
    ]
    assert "certificate" not in str(subscribed)
    assert subscribed["has_more"] is False
    updated, deleted, new = subscribed["backlog"]
    assert updated["message"]["edited_at"] is not None
    assert deleted["revision"] > updated["message"]["revision"]
    assert new["message"]["revision"] is None  # never changed
    assert subscribed["resume"] == {
        "since": m4,
        "since_event": None,
        "since_change": deleted["revision"],
    }
    # Resuming from there again: nothing more.
    again = await chat_server.client(desk.requester_token)
    assert (await _subscribe(again, ticket_id, **subscribed["resume"]))["backlog"] == []

    # An agent at the same place gets the note's edit too, after message 4 (its order).
    agent_back = await chat_server.client(desk.agent2_token)
    staff_view = await _subscribe(agent_back, ticket_id, since=m3)
    assert _summary(staff_view["backlog"]) == [
        ("message_updated", m2, "two, corrected"),
        ("message_deleted", m3, None),
        ("message", m4, "four"),
        ("message_updated", note, "note: it was the certificate"),
    ]
    assert m1 < m2 < note < m3 < m4


async def test_since_change_skips_the_changes_already_seen_live(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    agent = await chat_server.client(desk.agent_token)
    requester = await chat_server.client(desk.requester_token)
    await _subscribe(requester, ticket_id)
    m1 = await _say(agent, ticket_id, "one")
    m2 = await _say(agent, ticket_id, "two")
    async with chat_server.http(desk.agent_token) as http:
        await _edit(http, m1, "one, edited while you watched")
        live = await requester.expect("message_updated")
        seen_revision = live["message"]["revision"]
        await requester.close()
        await _edit(http, m2, "two, edited while you were away")

    # With only `since` the change it saw comes again (as it stands: harmless)...
    old_style = await chat_server.client(desk.requester_token)
    backlog = (await _subscribe(old_style, ticket_id, since=m2))["backlog"]
    assert [entry[1] for entry in _summary(backlog)] == [m1, m2]
    # ...with `since_change` exactly the one it missed.
    exact = await chat_server.client(desk.requester_token)
    subscribed = await _subscribe(exact, ticket_id, since=m2, since_change=seen_revision)
    assert _summary(subscribed["backlog"]) == [
        ("message_updated", m2, "two, edited while you were away")
    ]


async def test_a_message_posted_then_changed_while_away_comes_once_as_it_stands(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    agent = await chat_server.client(desk.agent_token)
    m1 = await _say(agent, ticket_id, "one")
    m2 = await _say(agent, ticket_id, "two")
    m3 = await _say(agent, ticket_id, "three")
    async with chat_server.http(desk.agent_token) as http:
        await _edit(http, m2, "two, edited")
        await _delete(http, m3)
    requester = await chat_server.client(desk.requester_token)
    backlog = (await _subscribe(requester, ticket_id, since=m1))["backlog"]
    assert [(f["type"], f["message"]["id"]) for f in backlog] == [
        ("message", m2),
        ("message", m3),
    ]
    assert backlog[0]["message"]["body"] == "two, edited"
    assert backlog[1]["message"]["deleted_at"] is not None
    assert backlog[1]["message"]["body"] == ""


async def test_a_backlog_cut_short_carries_on_from_resume_without_a_gap(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    agent = await chat_server.client(desk.agent_token)
    start = await _say(agent, ticket_id, "start")
    ids = [await _say(agent, ticket_id, f"m{n}") for n in range(3)]
    async with chat_server.http(desk.agent_token) as http:
        await _edit(http, start, "start, edited")  # a change to an older message
        ids.append(await _say(agent, ticket_id, "m3"))
        await _edit(http, ids[0], "m0, edited")  # a change to a message sent as new
        await _delete(http, start)
    reader = await chat_server.client(desk.agent_token)
    everything = _summary((await _subscribe(reader, ticket_id, since=start))["backlog"])
    # `start` was last changed (deleted) after m3: it comes after m3.
    assert everything == [
        ("message", ids[0], "m0, edited"),
        ("message", ids[1], "m1"),
        ("message", ids[2], "m2"),
        ("message", ids[3], "m3"),
        ("message_deleted", start, None),
    ]

    chat_server.use_limits(ChatLimits(backlog_messages=2))
    got: list[tuple[str, int, str | None]] = []
    cursor: dict[str, Any] = {"since": start}
    pages = 0
    while True:
        pages += 1
        subscribed = await _subscribe(reader, ticket_id, **cursor)
        got += _summary(subscribed["backlog"])
        cursor = subscribed["resume"]
        if not subscribed["has_more"] or pages > 5:
            break
    assert subscribed["has_more"] is False
    assert pages == 3
    # Nothing is missed, nothing out of order. A message sent whole on one page may come
    # again on a later page as it stands now (m0: its edit came after m3).
    assert got == [*everything[:4], ("message_updated", ids[0], "m0, edited"), everything[4]]
    assert _final(got) == _final(everything)


def _final(frames: list[tuple[str, int, str | None]]) -> dict[int, str | None]:
    """Each message as the client holds it after applying the frames in order."""
    return {message_id: body for _, message_id, body in frames}


async def test_edits_and_posts_at_once_get_one_order(
    chat_server: ChatServer, desk: Desk, committed_db: async_sessionmaker[AsyncSession]
) -> None:
    ticket_id = desk.ticket.id
    agent = await chat_server.client(desk.agent_token)
    ids = [await _say(agent, ticket_id, f"m{n}") for n in range(6)]
    # A token per message: a request updates its token's last use, which would queue
    # requests on one token behind each other; these must really run at once.
    async with unit_of_work(committed_db) as session:
        user = await session.get(User, desk.agent.id)
        assert user is not None
        tokens = [await do_issue_token(session, user=user, name=f"t{i}") for i in ids]

    async def edit_twice(message_id: int, token: str) -> None:
        async with chat_server.http(token) as http:
            for n in range(2):
                await _edit(http, message_id, f"{message_id} edit {n}")

    async def post_more() -> None:
        for n in range(6):
            await _say(agent, ticket_id, f"more {n}")

    await asyncio.gather(*(edit_twice(i, t) for i, t in zip(ids, tokens, strict=True)), post_more())
    async with committed_db() as session:
        rows = (
            await session.execute(
                select(ChatMessage.revision, ChatMessage.changed_after_id)
                .where(ChatMessage.revision.is_not(None))
                .order_by(ChatMessage.revision)
            )
        ).all()
        first = await session.get(ChatMessage, ids[0])
        assert first is not None
        first_changed_after = first.changed_after_id
    # Numbered in commit order: a later change never names an earlier latest message.
    after_ids = [row.changed_after_id for row in rows]
    assert len(rows) == len(ids)
    assert after_ids == sorted(after_ids)
    # A resume from the first message gets every message and change once, in that order.
    reader = await chat_server.client(desk.requester_token)
    got = _summary((await _subscribe(reader, ticket_id, since=ids[0]))["backlog"])
    assert len({message_id for _, message_id, _ in got}) == len(got) == 12
    new = [message_id for kind, message_id, _ in got if kind == "message"]
    assert new == sorted(new)
    assert new[:5] == ids[1:]
    assert {body for _, message_id, body in got if message_id in ids} == {
        f"{i} edit 1" for i in ids
    }
    # The edit of the first message sits right after the message that was the latest.
    place = next(n for n, (kind, _, _) in enumerate(got) if kind == "message_updated")
    assert [i for i in new if i <= (first_changed_after or 0)] == new[:place]


async def test_over_http_changed_after_lists_the_changes_in_order(
    chat_server: ChatServer, desk: Desk
) -> None:
    ticket_id = desk.ticket.id
    url = f"/api/v1/tickets/{ticket_id}/messages"
    agent = await chat_server.client(desk.agent_token)
    m1 = await _say(agent, ticket_id, "one")
    m2 = await _say(agent, ticket_id, "two")
    note = await _say(agent, ticket_id, "a note", "internal")
    async with (
        chat_server.http(desk.agent_token) as http,
        chat_server.http(desk.requester_token) as requester,
    ):
        listed = (await requester.get(url)).json()["items"]
        assert [m["revision"] for m in listed] == [None, None]
        first = await _edit(http, m2, "two, edited")
        await _edit(http, note, "a note, edited")
        await _delete(http, m1)
        await _edit(http, m2, "two, edited again")

        changed = (await requester.get(url, params={"changed_after": 0})).json()
        assert [(m["id"], m["body"], m["deleted_at"] is not None) for m in changed["items"]] == [
            (m1, "", True),
            (m2, "two, edited again", False),
        ]
        assert changed["next_after"] is None
        staff = (await http.get(url, params={"changed_after": first["revision"]})).json()
        assert [m["id"] for m in staff["items"]] == [note, m1, m2]
        # Pages: `next_after` is the revision to carry on from.
        page = (await http.get(url, params={"changed_after": 0, "limit": 2})).json()
        assert [m["id"] for m in page["items"]] == [note, m1]
        rest = await http.get(url, params={"changed_after": page["next_after"], "limit": 2})
        assert [m["id"] for m in rest.json()["items"]] == [m2]

        both = await http.get(url, params={"after": m1, "changed_after": 0})
        assert both.status_code == 422
        assert both.json()["error"]["code"] == "invalid_input"
