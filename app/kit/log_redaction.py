"""Tokens in URLs never reach the logs: `?token=` is replaced before a record is written.

API clients may authenticate the WebSocket with `/ws?token=sd_…` (browsers cannot set
headers on it), and uvicorn logs every request line and accepted socket with its query
string. The filter sits on uvicorn's loggers and rewrites the record's arguments.
"""

from __future__ import annotations

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"([?&](?:token|access_token|api_key)=)[^&\s\"']+", re.I)
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactQueryTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Put the filter on uvicorn's loggers (idempotent; after uvicorn configured them)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryTokens) for f in logger.filters):
            logger.addFilter(RedactQueryTokens())
