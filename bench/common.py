"""What every benchmark shares: timing and the JSON it prints."""

from __future__ import annotations

import json
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed wall time in seconds."""
    elapsed: list[float] = []
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - start)


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def emit(name: str, figure: dict[str, Any], reference: dict[str, Any], **extra: Any) -> None:
    """Print the result; `ratio` compares the figure's rate with the reference's."""
    rate, ref_rate = figure.get("per_second"), reference.get("per_second")
    result = {
        "benchmark": name,
        "figure": figure,
        "reference": reference,
        "ratio": round(rate / ref_rate, 4) if rate and ref_rate else None,
        "machine": {"python": sys.version.split()[0], "cpu": platform.machine()},
        **extra,
    }
    print(json.dumps(result, indent=2, default=str))
