"""The contract every registered connector honours (built-in and third-party alike)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import httpx
import pytest

from connectors import registry
from connectors.base import (
    PRIORITIES,
    STATUSES,
    Capability,
    Connector,
    ConnectorConfig,
    NotSupported,
)

KINDS = sorted(registry.available())


def test_the_builtin_kinds_are_registered() -> None:
    assert "demo" in KINDS


@pytest.mark.parametrize("kind", KINDS)
class TestManifest:
    def test_manifest_is_sane(self, kind: str) -> None:
        cls = registry.get(kind)
        assert cls.kind == kind
        assert cls.display_name
        assert cls.capabilities
        assert all(isinstance(c, Capability) for c in cls.capabilities)
        assert Capability.READ_TICKETS in cls.capabilities

    def test_status_and_priority_maps_are_total(self, kind: str) -> None:
        cls = registry.get(kind)
        assert set(cls.status_map.values()) <= set(STATUSES)
        # every normalized status can be reached, so nothing is stuck as "open"
        assert {"new", "resolved", "closed"} <= set(cls.status_map.values())
        assert set(cls.priority_map.values()) <= set(PRIORITIES)
        assert {"P1", "P4"} <= set(cls.priority_map.values())

    def test_webhook_capability_matches_the_method(self, kind: str) -> None:
        cls = registry.get(kind)
        overrides = cls.parse_webhook is not Connector.parse_webhook
        assert (Capability.WEBHOOKS in cls.capabilities) == overrides

    def test_file_capability_matches_the_write_method(self, kind: str) -> None:
        # Files are handed over as `files=` only to a kind that declares WRITE_FILES; the
        # others keep the four-argument add_comment they were written with.
        cls = registry.get(kind)
        parameter = inspect.signature(cls.add_comment).parameters.get("files")
        if Capability.WRITE_FILES not in cls.capabilities:
            pytest.skip("this kind writes text only")
        assert parameter is not None, "WRITE_FILES needs add_comment(..., *, files=())"
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default == ()

    async def test_without_webhooks_parse_refuses(self, kind: str) -> None:
        cls = registry.get(kind)
        if Capability.WEBHOOKS in cls.capabilities:
            pytest.skip("this kind receives webhooks; its own tests cover parsing")
        secrets = dict.fromkeys(cls.required_secrets, "x")
        settings = dict.fromkeys(cls.required_settings, "x")
        async with httpx.AsyncClient() as http:
            connector = cls.create(
                ConnectorConfig(
                    url="http://127.0.0.1:9",
                    secrets=secrets,
                    settings=settings,
                ),
                http,
            )
            with pytest.raises(NotSupported):
                connector.parse_webhook({}, b"{}")


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(registry.UnknownConnectorKind) as info:
        registry.get("nope")
    assert "demo" in info.value.known


def test_connectors_never_import_app(repo_root: Path) -> None:
    """Connectors stay portable: stdlib, httpx, pydantic and connectors.base only."""
    offenders = []
    for path in (repo_root / "connectors").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n == "app" or n.startswith("app.")]
    assert offenders == []
