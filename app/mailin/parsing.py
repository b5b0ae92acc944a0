"""An incoming mail reduced to what a reply needs: who, to which address, and the new text.

The new text is what the person wrote: the quoted history and the signature are cut off by
mail-parser-reply (its rules know the "On ... wrote:" and "From: ... Sent:" headers of the
common mail programs in several languages), and HTML mail is first cleaned (nh3: no script,
no style, no images) and turned into Markdown (markdownify), which chat renders safely.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

import nh3
from mailparser_reply import EmailReplyParser
from markdownify import markdownify

# The languages whose reply headers and signatures are recognised.
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "fi"]
_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
# Kept when HTML is cleaned before conversion: text structure, no media, no active content.
_HTML_TAGS = {
    "p", "br", "div", "span", "b", "strong", "i", "em", "u", "a", "ul", "ol", "li",
    "blockquote", "pre", "code", "h1", "h2", "h3", "h4", "table", "tr", "td", "th",
}  # fmt: skip
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_DAEMONS = {"mailer-daemon", "postmaster", "noreply", "no-reply"}


@dataclass(frozen=True, slots=True)
class MailFile:
    """An attachment of a mail, as sent (its type is sniffed when it is stored)."""

    filename: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class InboundMail:
    message_id: str | None
    sender: str  # the From address, lower case ("" when there is none)
    recipients: tuple[str, ...]  # the envelope's first, then To, Cc, Delivered-To, ...
    # Why this is a mail no person wrote (auto-reply, bounce, list mail), or None.
    automatic: str | None
    text: str  # the new part of the reply, as Markdown
    files: tuple[MailFile, ...] = ()


def parse_mail(
    raw: bytes, *, envelope_sender: str | None = None, envelope_recipients: tuple[str, ...] = ()
) -> InboundMail:
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    sender = parseaddr(str(mail.get("from", "")))[1].lower()
    listed = [addr for _, addr in getaddresses([str(v) for h in _RECIPIENT_HEADERS
                                                for v in mail.get_all(h, [])])]  # fmt: skip
    recipients = tuple(a.lower() for a in (*envelope_recipients, *listed) if a)
    return InboundMail(
        message_id=(str(mail["message-id"]).strip() or None) if mail["message-id"] else None,
        sender=sender,
        recipients=recipients,
        automatic=_automatic(mail, sender, envelope_sender),
        text=reply_text(mail),
        files=mail_files(mail),
    )


def mail_files(mail: EmailMessage) -> tuple[MailFile, ...]:
    """The mail's attachments (not its text or HTML body), decoded."""
    found = []
    for part in mail.iter_attachments():
        if part.is_multipart():  # a forwarded mail as message/rfc822: not a file of ours
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found.append(MailFile(part.get_filename(), payload))
    return tuple(found)


def _automatic(mail: EmailMessage, sender: str, envelope_sender: str | None) -> str | None:
    """RFC 3834's signs of a machine, and the usual non-standard ones; answered by nothing."""
    submitted = str(mail.get("auto-submitted", "no")).strip().lower()
    if submitted and not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted}"
    precedence = str(mail.get("precedence", "")).strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if mail.get_content_type() == "multipart/report":  # a DSN or a read receipt
        return "a delivery or read report"
    for header in ("x-autoreply", "x-autorespond", "x-autoresponder", "list-id"):
        if mail.get(header) is not None:
            return f"{header} header"
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return "a null envelope sender (a bounce)"
    if sender.partition("@")[0] in _DAEMONS:
        return f"sent by {sender}"
    return None


def reply_text(mail: EmailMessage) -> str:
    """The new text of a reply as Markdown; "" when there is none."""
    part = mail.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        cleaned = nh3.clean(content, tags=_HTML_TAGS, attributes={"a": {"href"}})
        content = markdownify(cleaned, heading_style="ATX")
    parsed = EmailReplyParser(languages=LANGUAGES).read(text=content.replace("\r\n", "\n"))
    body = parsed.replies[0].body if parsed.replies else content
    return body.strip()
