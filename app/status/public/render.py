"""Status text to safe HTML: Markdown without raw HTML, then an allow-list sanitizer."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a"}
_ATTRIBUTES = {"a": {"href"}}
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")


@lru_cache(maxsize=2048)
def to_html(text: str) -> Markup:
    """Markdown rendered with raw HTML escaped, then sanitized (http, https and mailto links)."""
    # Two layers: markdown-it escapes any HTML in the text, nh3 drops anything not allowed
    # (a javascript: link, an attribute) should the renderer ever let one through.
    rendered = _MARKDOWN.render(text)
    clean = nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # noqa: S704 - sanitized just above
