"""Keyset pagination by id: stable under inserts, cheap at any depth."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
After = Annotated[int | None, Query(ge=0, description="return items with an id after this")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_after: int | None = None
