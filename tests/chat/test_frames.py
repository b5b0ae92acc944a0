"""Live chat builds message frames without the pydantic model; the shape must not drift."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.chat.frames import message_frame, message_out
from app.chat.repository import NewChatMessage

CREATED = datetime(2026, 11, 29, 1, 2, 3, 456789, tzinfo=UTC)


def _message(**changes: object) -> NewChatMessage:
    message = NewChatMessage(
        ticket_id=7,
        author_user_id=3,
        body="Hello **there** <script>alert(1)</script>",
        visibility="public",
        client_msg_id="c-1",
        mentions=[4, 5],
        id=42,
        created_at=CREATED,
    )
    for name, value in changes.items():
        setattr(message, name, value)
    return message


@pytest.mark.parametrize(
    "message",
    [
        _message(),
        _message(created_at=datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC)),  # no fraction
        _message(edited_at=CREATED, external_comment_id="J-9", visibility="internal"),
        _message(deleted_at=CREATED, mentions=[]),
        _message(edited_at=CREATED, revision=17),
        _message(author_user_id=None, body="plain words only"),
    ],
)
@pytest.mark.parametrize("author", ["Alex Agent", None])
def test_the_live_frame_carries_what_the_api_model_serializes(
    message: NewChatMessage, author: str | None
) -> None:
    frame = message_frame("message", message, author)
    assert frame["message"] == message_out(message, author).model_dump(mode="json")
    assert "<script>" not in frame["message"]["html"]


def test_an_instant_in_another_zone_is_sent_as_the_same_instant_in_utc() -> None:
    from datetime import timedelta, timezone

    message = _message(created_at=CREATED.astimezone(timezone(timedelta(hours=1))))
    assert message_frame("message", message, "A")["message"]["created_at"] == (
        "2026-11-29T01:02:03.456789Z"
    )
