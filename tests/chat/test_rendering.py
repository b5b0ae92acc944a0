"""Markdown rendered to sanitized HTML, and mentions parsed, as clients receive them."""

from __future__ import annotations

import random
from html.parser import HTMLParser

import httpx
import nh3
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat import rendering
from app.chat.rendering import parse_mentions, render_markdown
from app.models import Role
from tests.factories import auth, create_ticket, create_user


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """The real elements of `html` (escaped text is text, not markup)."""
    parser = _Elements()
    parser.feed(html)
    return parser.elements


ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    '<a href="javascript:alert(1)" onclick="alert(2)">a</a>',
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    "![x](https://tracker.example/pixel.gif)",
    "[x](user:1) <span class=mention data-user-id=1 onmouseover=alert(1)>x</span>",
]


@pytest.mark.parametrize("body", ATTACKS)
def test_no_scripts_handlers_or_dangerous_links(body: str) -> None:
    for tag, attrs in elements(render_markdown(body)):
        assert tag in {"p", "a", "span", "strong", "em", "code"}, tag
        assert not [name for name in attrs if name.startswith("on") or name == "style"]
        href = (attrs.get("href") or "").strip().lower()
        assert not href or href.startswith(("http://", "https://", "mailto:")), href


def test_links_are_kept_with_a_safe_rel() -> None:
    html = render_markdown("see [the runbook](https://wiki.example/vpn)")
    assert elements(html) == [
        ("p", {}),
        ("a", {"href": "https://wiki.example/vpn", "rel": "noopener noreferrer nofollow"}),
    ]


def test_markdown_formatting_survives() -> None:
    html = render_markdown("**bold** _it_ `code`\n\n- one\n- two\n\n```\nblock\n```")
    assert [tag for tag, _ in elements(html)] == [
        "p", "strong", "em", "code", "ul", "li", "li", "pre", "code",
    ]  # fmt: skip


def test_a_mention_renders_as_a_span() -> None:
    html = render_markdown("thanks @[Alex Agent](user:12)!")
    assert html == '<p>thanks <span class="mention" data-user-id="12">@Alex Agent</span>!</p>\n'


class TestParseMentions:
    def test_by_id_and_by_email(self) -> None:
        found = parse_mentions("@[Alex](user:12) and @Bo@Example.com, cc mail@example.com")
        assert found.user_ids == {12}
        assert found.emails == {"bo@example.com"}

    def test_not_inside_code(self) -> None:
        found = parse_mentions("`@a@example.com` and\n```\n@[X](user:3)\n```")
        assert (found.user_ids, found.emails) == (frozenset(), frozenset())


async def test_the_api_serves_sanitized_html(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, token = await create_user(session, role=Role.AGENT)
    ticket = await create_ticket(session)
    await session.commit()
    url = f"/api/v1/tickets/{ticket.id}/messages"
    for body in ATTACKS:
        answer = await client.post(url, json={"body": body}, headers=auth(token))
        for tag, attrs in elements(answer.json()["html"]):
            assert tag not in {"script", "img", "svg", "iframe"}
            assert not [name for name in attrs if name.startswith("on")]
            assert not (attrs.get("href") or "").lower().startswith("javascript")


def test_the_plain_text_shortcut_renders_like_markdown() -> None:
    """The shortcut for plain one-liners gives byte for byte what the parser gives."""
    rng = random.Random(5)
    alphabet = "aZ09 ,.;:?!'()@/-"
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        for candidate in (body, "a" + body, "Hi " + body + " x"):
            full = nh3.clean(
                rendering._MD.render(candidate),
                tags=rendering._TAGS,
                attributes=rendering._ATTRIBUTES,
                url_schemes=rendering._URL_SCHEMES,
                link_rel=rendering.LINK_REL,
                allowed_classes={"span": {"mention"}},
                clean_content_tags={"script", "style"},
            )
            assert render_markdown(candidate) == full, candidate
