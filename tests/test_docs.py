"""The manual in docs/ cannot drift from the code: every route is on the API page, every
page is in the nav, every connector kind is in the capability matrix.

`make docs` (mkdocs build --strict) checks the links between pages; these check what
MkDocs cannot know.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
import yaml
from starlette.routing import BaseRoute, Mount, WebSocketRoute

from app.config import Settings
from app.main import create_app
from connectors import registry
from connectors.base import Capability

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A code span that is exactly `METHOD /path` (a query string may follow the path).
ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s?]*)(?:\?[^`\s]*)?`")
PARAM = re.compile(r"\{[^}]*\}")
# The matrix of docs/connectors/index.md: its columns, in the order of the header.
MATRIX_COLUMNS = {
    "read tickets": Capability.READ_TICKETS,
    "read comment visibility": Capability.READ_COMMENT_VISIBILITY,
    "write public comment": Capability.WRITE_PUBLIC_COMMENT,
    "write internal note": Capability.WRITE_INTERNAL_NOTE,
    "write files": Capability.WRITE_FILES,
    "watchers": Capability.WATCHERS,
    "webhooks": Capability.WEBHOOKS,
    "status change": Capability.STATUS_CHANGE,
}


def _normalized(path: str) -> str:
    """Path parameters compared by position, not name: `{id}` on the page is `{ticket_id}`."""
    return PARAM.sub("{}", path)


def _flat_routes(routes: list[BaseRoute]) -> Iterator[Any]:
    """Routes with their full paths; FastAPI >= 0.137 nests included routers."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # older FastAPI: app.routes is already flat
        yield from routes
        return
    yield from contexts(routes)


def app_endpoints(settings: Settings) -> set[str]:
    """Every `METHOD /path` the app answers, except its own OpenAPI and Swagger routes."""
    app = create_app(settings)
    generated = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url}
    found = set()
    for route in _flat_routes(app.routes):
        path = route.path
        if path in generated:
            continue
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            found.add(f"GET {_normalized(path)}/{{}}")
        elif isinstance(original, WebSocketRoute):
            found.add(f"GET {_normalized(path)}")  # the WebSocket handshake
        else:
            methods = set(route.methods or ()) - {"HEAD", "OPTIONS"}
            found |= {f"{m} {_normalized(path)}" for m in methods}
    return found


def documented_endpoints(page: str) -> set[str]:
    return {f"{m} {_normalized(p)}" for m, p in ENDPOINT.findall(page)}


class TestApiPage:
    def test_every_route_of_the_app_is_on_the_api_page(
        self, repo_root: Path, base_settings: Settings
    ) -> None:
        page = (repo_root / "docs" / "api.md").read_text()
        missing = app_endpoints(base_settings) - documented_endpoints(page)
        assert not missing, f"add these to docs/api.md: {sorted(missing)}"

    def test_the_api_page_names_no_route_the_app_lacks(
        self, repo_root: Path, base_settings: Settings
    ) -> None:
        page = (repo_root / "docs" / "api.md").read_text()
        unknown = documented_endpoints(page) - app_endpoints(base_settings)
        assert not unknown, f"docs/api.md documents routes that do not exist: {sorted(unknown)}"

    def test_the_comparison_sees_through_parameter_names(self) -> None:
        page = "| `GET /api/v1/tickets/{id}/timeline?after=&limit=` | `POST /x` |"
        assert documented_endpoints(page) == {"GET /api/v1/tickets/{}/timeline", "POST /x"}


def _tolerant_loader() -> type[yaml.SafeLoader]:
    """A safe loader that reads `!!python/...` tags (Material's recipes use them) as None."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda _loader, _suffix, _node: None)
    return Loader


def _nav_pages(entry: object) -> Iterator[str]:
    if isinstance(entry, str):
        if "://" not in entry:
            yield entry
    elif isinstance(entry, list):
        for item in entry:
            yield from _nav_pages(item)
    elif isinstance(entry, dict):
        for value in entry.values():
            yield from _nav_pages(value)


class TestNav:
    @pytest.fixture
    def config(self, repo_root: Path) -> dict[str, Any]:
        text = (repo_root / "mkdocs.yml").read_text()
        loaded: dict[str, Any] = yaml.load(text, Loader=_tolerant_loader())  # noqa: S506
        return loaded

    def test_every_page_under_docs_is_in_the_nav(
        self, repo_root: Path, config: dict[str, Any]
    ) -> None:
        docs = repo_root / config.get("docs_dir", "docs")
        pages = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")}
        listed = set(_nav_pages(config["nav"]))
        assert not pages - listed, f"add these to the nav of mkdocs.yml: {sorted(pages - listed)}"
        assert not listed - pages, f"the nav names missing pages: {sorted(listed - pages)}"

    def test_the_site_is_built_with_material_from_docs(self, config: dict[str, Any]) -> None:
        assert config["docs_dir"] == "docs"
        assert config["theme"]["name"] == "material"


def _matrix(page: str) -> dict[str, frozenset[Capability]]:
    """Kind → capabilities marked `yes` in the table whose header starts `| kind | read`."""
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| kind | read tickets"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    columns = [MATRIX_COLUMNS[name] for name in header[1:]]
    rows: dict[str, frozenset[Capability]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        kind = cells[0].strip("`")
        rows[kind] = frozenset(
            c for c, mark in zip(columns, cells[1:], strict=True) if mark == "yes"
        )
    return rows


class TestConnectorPages:
    def test_every_kind_of_this_repository_has_its_capabilities_and_a_page(
        self, repo_root: Path
    ) -> None:
        page = (repo_root / "docs" / "connectors" / "index.md").read_text()
        matrix = _matrix(page)
        ours = {
            kind: cls
            for kind, cls in registry.available().items()
            if cls.__module__.startswith("connectors.")  # not a test's third-party package
        }
        assert ours
        for kind, cls in ours.items():
            assert matrix.get(kind) == cls.capabilities, f"the matrix row of {kind!r}"
            assert (repo_root / "docs" / "connectors" / f"{kind}.md").is_file(), kind
        assert set(matrix) <= set(ours), "the matrix names kinds that are not registered"


def test_readme_links_point_at_files_that_exist(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (repo_root / t).exists()]
    assert not missing, missing
