"""Markdown in, sanitized HTML out (markdown-it-py, then nh3), and mention parsing.

Raw HTML is never passed through by the Markdown parser, and nh3 cleans what it renders
anyway: two independent layers, so one bug does not let a script through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

# `@[Alex Agent](user:12)` (what a client's mention picker inserts) or `@alex@example.com`.
MENTION_BY_ID = re.compile(r"@\[[^\]\n]{1,200}\]\(user:(\d{1,18})\)")
MENTION_BY_EMAIL = re.compile(r"(?<![\w.+@-])@([\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)

_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr",
    "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "span": {"data-user-id"}, "ol": {"start"}}
_URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"


@dataclass(frozen=True)
class MentionTokens:
    """What a body mentions, before the ids and e-mails are matched to users."""

    user_ids: frozenset[int] = field(default_factory=frozenset)
    emails: frozenset[str] = field(default_factory=frozenset)


def parse_mentions(body: str) -> MentionTokens:
    """Mentions outside code spans and blocks (code often quotes an address)."""
    if "@" not in body:
        return MentionTokens()
    text = _CODE.sub(" ", body)
    ids = frozenset(int(m) for m in MENTION_BY_ID.findall(text))
    emails = frozenset(m.lower() for m in MENTION_BY_EMAIL.findall(MENTION_BY_ID.sub(" ", text)))
    return MentionTokens(ids, emails)


def _mention_spans(state: StateCore) -> None:
    """Turn links to `user:<id>` into `<span class="mention">@Name</span>`."""
    for block in state.tokens:
        children = block.children or []
        for i, token in enumerate(children):
            href = str(token.attrs.get("href", "")) if token.type == "link_open" else ""
            if not href.startswith("user:") or not href[5:].isdigit():
                continue
            closing = next(
                (t for t in children[i + 1 :] if t.type == "link_close" and t.level == token.level),
                None,
            )
            if closing is None:
                continue
            token.tag = closing.tag = "span"
            token.attrs = {"class": "mention", "data-user-id": href[5:]}
            before = children[i - 1] if i else None
            after = children[i + 1] if i + 1 < len(children) else None
            if before is not None and before.type == "text" and before.content.endswith("@"):
                before.content = before.content[:-1]
                if after is not None and after.type == "text":
                    after.content = "@" + after.content


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")  # remote images in chat are tracking pixels; links are enough
    md.core.ruler.push("mention_spans", _mention_spans)
    return md


_MD = _parser()


# One line of words and harmless punctuation: Markdown would render exactly `<p>body</p>`
# (no markup, nothing to escape, no list or heading opener), so skip the parser.
_PLAIN = re.compile(r"[A-Za-z@][A-Za-z0-9 ,.;:?!'()@/-]*[A-Za-z0-9.?!)]|[A-Za-z]")


@lru_cache(maxsize=4096)
def render_markdown(body: str) -> str:
    """Sanitized HTML for a Markdown body: no scripts, handlers or javascript: links."""
    if _PLAIN.fullmatch(body):
        # Nothing in `_PLAIN` can open a tag or an entity: there is nothing to clean.
        return f"<p>{body}</p>\n"
    return nh3.clean(
        _MD.render(body),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel=LINK_REL,
        allowed_classes={"span": {"mention"}},
        clean_content_tags={"script", "style"},
    )
