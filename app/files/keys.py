"""Blob keys: the hex SHA-256 of the content."""

from __future__ import annotations

import hashlib
import re

_KEY = re.compile(r"^[0-9a-f]{64}$")


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """A key is 64 lower-case hex digits: never a path, never a prefix of other keys."""
    if not _KEY.match(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key
