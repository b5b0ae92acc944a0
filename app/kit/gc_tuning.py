"""Garbage-collector settings for a long-running server process.

A chat server keeps thousands of messages in flight for a few milliseconds each. With
CPython's default thresholds (700, 10, 10) they survive two young collections, land in
the oldest generation, and trigger a full collection every second or two at load; each
full collection walks every object of every open socket (hundreds of thousands) and
stalls the event loop for tens to hundreds of milliseconds. A larger first threshold lets
in-flight objects die young; freezing what exists after start-up (modules, classes, the
app) takes it out of every later collection. Cycles are still collected.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_for_server() -> None:
    """Call once in a server process, after the app is imported and built."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
