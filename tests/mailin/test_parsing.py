"""What is kept of an incoming mail: the new text only, as safe Markdown; machines spotted."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from app.mailin.parsing import parse_mail


def mail(body: str, *, html: str | None = None, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Erin <erin@example.net>")
    message["To"] = "reply+1-2-p3-aaaaaaaaaaaaaaaa@reply.example"
    message["Subject"] = "Re: VPN does not connect"
    message["Message-ID"] = "<abc@example.net>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_the_quoted_history_and_the_signature_are_cut_off() -> None:
    body = (
        "It works again after the restart, thanks!\n\n"
        "-- \nErin Employee\nFinance, 3rd floor\n\n"
        "On Mon, Dec 7, 2026 at 10:00 AM Socialdesk <notifications@desk.example> wrote:\n"
        "> Status changed from open to pending\n> Open: https://desk.example/tickets/1\n"
    )
    parsed = parse_mail(mail(body))
    assert parsed.text == "It works again after the restart, thanks!"
    assert parsed.sender == "erin@example.net"
    assert parsed.message_id == "<abc@example.net>"
    assert parsed.automatic is None


def test_an_outlook_style_reply_loses_the_forwarded_header_block() -> None:
    body = (
        "Still broken on my laptop.\n\n"
        "From: Socialdesk <notifications@desk.example>\nSent: Monday, December 7, 2026 10:00\n"
        "To: Erin <erin@example.net>\nSubject: VPN does not connect\n\nStatus changed\n"
    )
    assert parse_mail(mail(body)).text == "Still broken on my laptop."


def test_html_only_mail_becomes_markdown_without_active_content() -> None:
    message = EmailMessage()
    message["From"] = "erin@example.net"
    message["To"] = "reply+1-2-p3-aaaaaaaaaaaaaaaa@reply.example"
    message.set_content(
        "<p>The <b>error</b> says <a href='https://vpn.example/help'>this</a>.</p>"
        "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
        subtype="html",
    )
    text = parse_mail(message.as_bytes()).text
    assert "**error**" in text
    assert "[this](https://vpn.example/help)" in text
    for active in ("script", "alert", "onerror"):
        assert active not in text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
        ({"Precedence": "bulk"}, "Precedence"),
        ({"X_Autoreply": "yes"}, "x-autoreply"),
        ({"From": "MAILER-DAEMON@mx.example.net"}, "mailer-daemon"),
    ],
    ids=["out of office", "bulk", "x-autoreply", "mailer daemon"],
)
def test_mail_no_person_wrote_is_recognised(headers: dict[str, str], reason: str) -> None:
    parsed = parse_mail(mail("I am out of the office until Monday.", **headers))
    assert parsed.automatic is not None
    assert reason.lower() in parsed.automatic.lower()


def test_a_delivery_status_notification_is_recognised() -> None:
    report = (
        b"From: Mail Delivery System <postmaster@mx.example.net>\r\n"
        b"To: reply+1-2-p3-aaaaaaaaaaaaaaaa@reply.example\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--\r\n"
    )
    assert parse_mail(report).automatic is not None
    assert parse_mail(mail("hello"), envelope_sender="<>").automatic is not None
    assert parse_mail(mail("hello"), envelope_sender="erin@example.net").automatic is None
