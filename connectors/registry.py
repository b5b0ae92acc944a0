"""Connector kinds, discovered through the `socialdesk.connectors` entry-point group.

A third-party package adds a kind by declaring an entry point in that group that names its
`Connector` subclass; nothing in this repository has to change.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from connectors.base import Connector

GROUP = "socialdesk.connectors"


class UnknownConnectorKind(LookupError):
    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(f"unknown connector kind {kind!r}; known kinds: {', '.join(known)}")
        self.kind = kind
        self.known = known


@cache
def available() -> dict[str, type[Connector]]:
    """Every registered kind, loaded once per process."""
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise TypeError(f"entry point {ep.name} in {GROUP} is not a Connector subclass")
        if cls.kind != ep.name:
            raise TypeError(f"entry point {ep.name} names a connector of kind {cls.kind}")
        found[ep.name] = cls
    return dict(sorted(found.items()))


_registered: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> None:
    """Add a kind at run time (tests, embedding); entry points are the normal way."""
    _registered[cls.kind] = cls


def known_kinds() -> dict[str, type[Connector]]:
    return {**available(), **_registered}


def get(kind: str) -> type[Connector]:
    kinds = known_kinds()
    if kind not in kinds:
        raise UnknownConnectorKind(kind, list(kinds))
    return kinds[kind]
