"""Ids and cursors past what the database holds are a 422, on every route (issue 15).

Found by fuzzing the OpenAPI schema: `GET /api/v1/tickets/99999999999999999999999` and
`?after=9223372036854775808` overflowed inside the database driver and answered 500.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit.ids import MAX_ID, MAX_NUMBER
from app.main import create_app
from app.models import Role
from tests.factories import auth, create_user


def _spec() -> dict[str, Any]:
    with warnings.catch_warnings():
        # HEAD and GET of the public status routes share an operation id; not ours to test
        warnings.simplefilter("ignore", UserWarning)
        return create_app(Settings(secret_key="k" * 40)).openapi()


SPEC = _spec()


def _integer_parameters() -> list[tuple[str, str, str, str, int]]:
    """(method, path, where, name, maximum) of every integer parameter in the schema."""
    found = []
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                for option in schema.get("anyOf", [schema]):
                    if option.get("type") == "integer":
                        maximum = option.get("maximum", 2**64)  # unbounded: fails below
                        found.append((method, path, parameter["in"], parameter["name"], maximum))
    return found


def _unbounded_integers(schema: dict[str, Any], where: str, seen: frozenset[str]) -> list[str]:
    """Where an integer without a maximum hides in a request schema (refs followed)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        target = SPEC["components"]["schemas"][name]
        return _unbounded_integers(target, f"{where}->{name}", seen | {name})
    found = []
    if schema.get("type") == "integer" and "maximum" not in schema:
        found.append(where)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _unbounded_integers(option, where, seen)
    for name, field in schema.get("properties", {}).items():
        found += _unbounded_integers(field, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _unbounded_integers(schema[key], f"{where}[]", seen)
    return found


def test_every_integer_a_client_sends_is_bounded() -> None:
    """New routes and fields use app.kit.ids (or their own bounds), or this fails."""
    unbounded = []
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                where = f"{label} {parameter['in']}:{parameter['name']}"
                unbounded += _unbounded_integers(parameter["schema"], where, frozenset())
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                where = f"{label} body({media})"
                unbounded += _unbounded_integers(content["schema"], where, frozenset())
    assert unbounded == []


INTEGER_PARAMETERS = _integer_parameters()


def _request(method: str, path: str, where: str, name: str, value: int) -> dict[str, Any]:
    """A request with `value` in one parameter and harmless values everywhere else."""
    # Other required query parameters (a ticket to render a saved reply for) get a 1.
    operation = SPEC["paths"][path][method]
    params: dict[str, Any] = {
        p["name"]: 1
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required") and p["name"] != name
    }
    if where == "path":
        path = path.replace("{" + name + "}", str(value))
    else:
        params[name] = value
    path = re.sub(r"\{[^}]+\}", "1", path)  # every other path parameter
    return {"method": method.upper(), "url": path, "params": params}


@pytest.fixture
async def admin_token(session: AsyncSession) -> str:
    _, token = await create_user(session, role=Role.ADMIN)
    await session.commit()
    return token


def _ids(case: tuple[str, str, str, str, int]) -> str:
    method, path, where, name, _ = case
    return f"{method.upper()} {path} {where}:{name}"


@pytest.mark.parametrize("case", INTEGER_PARAMETERS, ids=[_ids(c) for c in INTEGER_PARAMETERS])
async def test_one_past_the_bound_is_invalid_input(
    client: httpx.AsyncClient, admin_token: str, case: tuple[str, str, str, str, int]
) -> None:
    method, path, where, name, maximum = case
    request = _request(method, path, where, name, maximum + 1)
    response = await client.request(**request, headers=auth(admin_token), json={})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert name in {detail["field"].rsplit(".", 1)[-1] for detail in error["details"]}


@pytest.mark.parametrize(
    "case",
    [c for c in INTEGER_PARAMETERS if c[0] == "get"],
    ids=[_ids(c) for c in INTEGER_PARAMETERS if c[0] == "get"],
)
async def test_the_largest_valid_value_reaches_the_database_and_is_not_an_error(
    client: httpx.AsyncClient, admin_token: str, case: tuple[str, str, str, str, int]
) -> None:
    method, path, where, name, maximum = case
    response = await client.request(
        **_request(method, path, where, name, maximum), headers=auth(admin_token)
    )
    assert response.status_code in (200, 404), response.text


def test_the_bounds_are_the_column_widths() -> None:
    bounds = {(path, name): maximum for _, path, _, name, maximum in INTEGER_PARAMETERS}
    assert bounds[("/api/v1/tickets/{ticket_id}", "ticket_id")] == MAX_ID == 2**63 - 1
    # policy version numbers are a 32-bit INTEGER column on PostgreSQL
    assert bounds[("/api/v1/policy/versions/{number}", "number")] == MAX_NUMBER == 2**31 - 1
    assert bounds[("/api/v1/policy/versions", "after")] == MAX_NUMBER


class TestTheCasesTheFuzzerFound:
    async def test_a_ticket_id_beyond_64_bits(
        self, client: httpx.AsyncClient, admin_token: str
    ) -> None:
        response = await client.get(
            "/api/v1/tickets/99999999999999999999999", headers=auth(admin_token)
        )
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"][0]["field"] == "path.ticket_id"

    async def test_an_after_cursor_one_past_the_largest_id(
        self, client: httpx.AsyncClient, admin_token: str
    ) -> None:
        response = await client.get(
            "/api/v1/tickets", params={"after": "9223372036854775808"}, headers=auth(admin_token)
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "query.after"
        largest = await client.get(
            "/api/v1/tickets", params={"after": str(MAX_ID)}, headers=auth(admin_token)
        )
        assert largest.status_code == 200
        assert largest.json() == {"items": [], "next_after": None}

    async def test_a_huge_id_in_a_body(self, client: httpx.AsyncClient, admin_token: str) -> None:
        response = await client.post(
            "/api/v1/tickets/1/read", json={"message_id": 2**64}, headers=auth(admin_token)
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "message_id"
