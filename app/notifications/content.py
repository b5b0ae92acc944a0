"""What a channel hands out: one message (one update, a collapsed burst, or a digest).

A message carries, for every section, the facts the egress guard needs: the visibility of
the text actually sent, the audience, and whether the recipient may see the ticket.
`check_egress` is the first thing every channel's `send` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment

from app.policy.guard.egress import ContentVisibility, guard_egress


@dataclass(frozen=True, slots=True)
class Section:
    """One update inside a message, already redacted for this recipient."""

    event_type: str
    heading: str
    text: str
    occurred_at: datetime
    visibility: ContentVisibility
    audience: str | None
    may_see_ticket: bool
    ticket_id: int | None = None
    item_id: int | None = None  # the digest item this section came from
    profile: str = "strict"  # the redaction profile its text went through


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook or Apprise destination, opened for this send only."""

    id: int
    url: str
    secret: str | None
    internal: bool


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """Everything one channel needs for one delivery; built by compose, sent by a channel.

    `user_id` is None for a destination that is no user's (a status webhook, composed by
    the status domain's composer); `document` is then the JSON body it receives, as is.
    """

    delivery_id: int
    idempotency_key: str
    channel: str
    user_id: int | None
    recipient_role: str
    recipient_name: str
    recipient_email: str
    destination_internal: bool
    subject: str
    sections: tuple[Section, ...]
    link: str | None = None
    ticket_id: int | None = None
    target: Target | None = None
    unsubscribe_url: str | None = None
    # A signed reply address (app.mailin.addresses): answering the mail answers on the
    # ticket; `reply_public` says whether that answer is public (told in the mail).
    reply_to: str | None = None
    reply_public: bool = False
    digest: bool = False
    document: Mapping[str, Any] | None = None
    # The words of the link ("Open" in the text, "Open the ticket" in HTML, when unset).
    link_label: str | None = None

    @property
    def event_type(self) -> str:
        return "digest" if self.digest else self.sections[0].event_type


def check_egress(message: OutboundMessage) -> None:
    """Raise InternalContentLeak unless every section may go to this recipient and place."""
    for section in message.sections:
        guard_egress(
            section.visibility,
            message.recipient_role,
            message.destination_internal,
            section.audience,
            may_see_ticket=section.may_see_ticket,
            channel=message.channel,
        )


def render_text(message: OutboundMessage, *, with_link: bool = True) -> str:
    """The plain-text body: every section, then the link."""
    blocks = []
    for section in message.sections:
        block = section.heading if not section.text else f"{section.heading}\n\n{section.text}"
        blocks.append(block)
    text = "\n\n---\n\n".join(blocks)
    if message.link and with_link:
        text += f"\n\n{message.link_label or 'Open'}: {message.link}"
    if message.reply_to:
        text += f"\n\n{reply_hint(message)}"
    return text


def reply_hint(message: OutboundMessage) -> str:
    """What answering this mail does, said before anyone answers."""
    if message.recipient_role not in ("agent", "admin"):
        return "Reply to this e-mail to answer on the ticket."
    if message.reply_public:
        return "Reply to this e-mail to answer on the ticket: your reply is public."
    return "Reply to this e-mail to add an internal note (agents only) to the ticket."


_HTML = Environment(autoescape=True, keep_trailing_newline=True).from_string(
    """<!doctype html>
<html><body style="font-family: sans-serif; max-width: 40em">
<h2 style="font-size: 1.1em">{{ m.subject }}</h2>
{% for s in m.sections %}
<div style="margin: 1em 0; padding-left: .8em; border-left: 3px solid #ccd">
<p><strong>{{ s.heading }}</strong></p>
{% if s.text %}<p style="white-space: pre-wrap">{{ s.text }}</p>{% endif %}
</div>
{% endfor %}
{% if m.link %}<p><a href="{{ m.link }}">
{{- m.link_label or ("Open the ticket" if m.ticket_id else "Open") }}</a></p>{% endif %}
{% if m.reply_to %}<p>{{ hint }}</p>{% endif %}
{% if m.unsubscribe_url %}<p style="font-size: .8em; color: #667">
You get this because you follow this ticket or service.
<a href="{{ m.unsubscribe_url }}">Stop these e-mails</a>.</p>{% endif %}
</body></html>
"""
)


def render_html(message: OutboundMessage) -> str:
    """The HTML body (autoescaped: ticket text never becomes markup)."""
    return _HTML.render(m=message, hint=reply_hint(message) if message.reply_to else "")
