"""Decoding client frames: invalid and too deeply nested JSON are refused, not raised."""

from __future__ import annotations

import json

import pytest

from app.realtime.decoding import MAX_FRAME_DEPTH, FrameRefused, decode_frame


def _nested(depth: int) -> str:
    value: object = 1
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return json.dumps(value)


def test_a_flat_frame_decodes() -> None:
    assert decode_frame('{"type": "ping", "ref": 1}') == {"type": "ping", "ref": 1}


def test_nesting_up_to_the_limit_decodes_and_one_more_is_refused() -> None:
    assert decode_frame(_nested(MAX_FRAME_DEPTH))
    with pytest.raises(FrameRefused) as refused:
        decode_frame(_nested(MAX_FRAME_DEPTH + 1))
    assert refused.value.code == "frame_too_deep"


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 50_000 + "]" * 50_000, '{"a":' * 40_000])
def test_nesting_past_the_decoders_recursion_is_refused(text: str) -> None:
    with pytest.raises(FrameRefused) as refused:
        decode_frame(text)
    assert refused.value.code in {"frame_too_deep", "invalid_json"}


def test_brackets_inside_strings_are_text() -> None:
    body = "[" * 1000 + "{" * 1000
    assert decode_frame(json.dumps({"type": "message", "body": body}))["body"] == body


def test_invalid_json() -> None:
    with pytest.raises(FrameRefused) as refused:
        decode_frame("{nope")
    assert (refused.value.code, refused.value.message) == (
        "invalid_json",
        "the frame is not valid JSON",
    )
