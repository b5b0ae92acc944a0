"""Property-based fuzzing of the OpenAPI schema (issue 15): no input answers 5xx.

Schemathesis generates requests from `/api/openapi.json` (valid ones and ones that break
the schema on purpose) and sends them to the app in-process, signed in as an admin so the
authenticated routes are exercised too. Every answer must be below 500, and every error
must have the one error shape of the design. The seed is fixed and the examples per
operation bounded (the coverage phase adds each parameter's boundary values, such as one
past an id's maximum), so a run is repeatable and quick; a failure prints a curl command
that reproduces it. No operation is excluded: the ones that reach other systems
(connector checks and syncs) get an HTTP client on which every system is down.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case as GeneratedCase
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import BaseSchema
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.runtime
from app.config import Settings
from app.db import unit_of_work
from app.main import create_app
from app.models import Role
from tests.factories import auth, create_user

Case = GeneratedCase[Any]

EXAMPLES_PER_OPERATION = 15


def _no_network(request: httpx.Request) -> httpx.Response:
    # Connector checks, syncs and webhook deliveries reach other systems: in here, every
    # system is down, which the routes must answer as a 4xx of their own, not a 500.
    raise httpx.ConnectError("no network in the fuzz test", request=request)


def _offline_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(_no_network))


@dataclass
class FuzzTarget:
    app: FastAPI
    headers: dict[str, str]


@pytest.fixture
async def target(
    settings: Settings,
    committed_db: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[FuzzTarget]:
    """The app as `serve` runs it, and an admin's token.

    Schemathesis runs the app on an event loop of its own, so the app opens its runtime
    (engine, bus, hub) there, in its lifespan, instead of sharing the test's connection;
    rows it commits are removed by `committed_db`.
    """
    async with unit_of_work(committed_db) as session:
        _, token = await create_user(session, role=Role.ADMIN)
    monkeypatch.setattr(app.runtime, "new_http_client", _offline_http_client)
    yield FuzzTarget(create_app(settings), auth(token))
    shutdown_lifespans()  # the runtime closes on schemathesis's loop, before the cleanup


def _load_schema() -> BaseSchema:
    with warnings.catch_warnings():
        # HEAD and GET of the public status routes share an operation id (FastAPI warns)
        warnings.simplefilter("ignore", UserWarning)
        spec = create_app(Settings(secret_key="k" * 40)).openapi()
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.config.update(base_url="http://testserver")
    loaded.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, database="none")
    return loaded


def error_has_the_design_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every JSON error is `{"error": {"code", "message", "details"}}`, and the API's are JSON.

    Pages for people (the status page's subscribe form, unsubscribe links) answer their
    errors as HTML pages, which is what a person who clicked a link should see.
    """
    if response.status_code < 400 or case.method.upper() == "HEAD":  # HEAD has no body
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if case.path.startswith("/api/"):
        assert content_type.startswith("application/json"), content_type
    elif not content_type.startswith("application/json"):
        return None
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str), body
    assert isinstance(body["error"]["message"], str), body
    return None


schema = _load_schema()


@schema.parametrize()
@settings(
    derandomize=True,
    deadline=None,
    # one app and one admin for all the examples of an operation, on purpose
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_input_answers_a_server_error(case: Case, target: FuzzTarget) -> None:
    case.call_and_validate(
        app=target.app,
        headers=dict(target.headers),  # schemathesis adds to the dict it is given
        checks=[not_a_server_error, error_has_the_design_shape],
    )
