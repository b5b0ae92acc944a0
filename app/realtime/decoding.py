"""Text frames to JSON values, bounded: a frame the decoder refuses is an `error` frame.

Client frames are flat objects (a type and a few scalars), so nesting is capped well
below what the JSON decoder's recursion could survive: a frame of 30,000 `[` used to
raise RecursionError out of the receive loop and drop the socket without a close frame.
"""

from __future__ import annotations

import json
from typing import Any

MAX_FRAME_DEPTH = 16


class FrameRefused(Exception):
    """A frame that is not JSON the socket accepts; `code` is the error frame's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def decode_frame(text: str, max_depth: int = MAX_FRAME_DEPTH) -> Any:
    """The JSON value of a text frame; FrameRefused when invalid or nested too deeply."""
    # Fewer brackets than the limit cannot nest past it: the common case costs two scans
    # in C and no walk over the value.
    shallow = text.count("[") + text.count("{") <= max_depth
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError:
        raise FrameRefused("invalid_json", "the frame is not valid JSON") from None
    if not shallow and _depth_exceeds(value, max_depth):
        raise _too_deep(max_depth)
    return value


def _too_deep(max_depth: int) -> FrameRefused:
    return FrameRefused("frame_too_deep", f"frames nest at most {max_depth} levels deep")


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether arrays and objects nest deeper than max_depth (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
