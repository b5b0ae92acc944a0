"""Regular expressions written by admins, run by an engine that cannot backtrack.

Custom redaction patterns and `matches` conditions run on the send path for every
message. With Python's `re`, one pattern such as `(a+)+$` takes exponential time on a
crafted text and stalls every send in the process. RE2 (google-re2, the maintained
binding of Google's engine) matches in time linear in the text, and refuses what it
cannot run that way (backreferences, lookaround) when the policy is validated, so a
pattern is either refused on save or fast on send, never slow.

Two differences from `re` an admin may notice, both said in the error text or the docs:
lookaround and backreferences are refused, and `\\w`, `\\d`, `\\b` are ASCII-only (write
`\\pL` for any letter).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol, cast

import re2

MAX_PATTERN_LENGTH = 500
# RE2 refuses a pattern whose compiled program would need more memory than this; with
# the length cap it bounds what one admin pattern can cost per process.
_MAX_PROGRAM_BYTES = 4 << 20


class PatternMatch(Protocol):
    """What the send path reads from a match (shared by `re` and RE2 matches)."""

    def span(self, group: int = 0, /) -> tuple[int, int]: ...
    def group(self, group: int = 0, /) -> str: ...


class LinearPattern(Protocol):
    """A compiled pattern as the send path uses it (an `re.Pattern` fits as well)."""

    @property
    def groupindex(self) -> dict[str, int]: ...
    def finditer(self, text: str) -> Iterator[PatternMatch]: ...
    def search(self, text: str) -> PatternMatch | None: ...
    def match(self, text: str) -> PatternMatch | None: ...


class PatternError(ValueError):
    """A pattern the linear-time engine refuses, with the reason in words."""


def _options() -> object:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is our 422, not a line on stderr
    options.max_mem = _MAX_PROGRAM_BYTES
    return options


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> LinearPattern:
    """Compile an admin's pattern, or raise PatternError saying why it cannot run."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        hint = ""
        if "perl operator" in str(reason) or "escape sequence" in str(reason):
            hint = " (lookaround and backreferences cannot run in linear time)"
        raise PatternError(f"{reason}{hint}") from None
    return cast(LinearPattern, compiled)
