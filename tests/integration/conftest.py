"""Fixtures for the tests against the real Redmine and RT peers (see `peers.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.peers import peer_env


@pytest.fixture(scope="session")
def redmine_env() -> dict[str, str]:
    return peer_env("redmine")


@pytest.fixture(scope="session")
def rt_env() -> dict[str, str]:
    return peer_env("rt")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
