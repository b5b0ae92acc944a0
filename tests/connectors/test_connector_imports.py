"""The Redmine, RT, ServiceNow, Jira SM, Zendesk and Freshservice connectors import only the
standard library, httpx, pydantic and `connectors.base` (CONVENTIONS.md § Connectors), plus
their own package and the helpers they share: `connectors.http` (the HTTP edge of the four
HTTP-API clients), `connectors.marker` (the marker on what Socialdesk writes) and
`connectors.feed` (the page of changes a polling connector fills)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import connectors

ALLOWED = {
    "httpx",
    "pydantic",
    "connectors.base",
    "connectors.feed",
    "connectors.http",
    "connectors.marker",
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "package", ["redmine", "rt", "servicenow", "jira_sm", "zendesk", "freshservice"]
)
def test_only_allowed_imports(package: str) -> None:
    root = Path(connectors.__file__).parent / package
    for path in sorted(root.glob("*.py")):
        for name in imported(path):
            top = name.split(".")[0]
            ok = (
                top in sys.stdlib_module_names
                or top == "__future__"
                or name in ALLOWED
                or top in ALLOWED
                or name.startswith(f"connectors.{package}")
            )
            assert ok, f"{path.name} imports {name}"
