"""A person's webhook goes to the address that was checked, not to a second DNS answer.

A name with a short TTL can answer a public address to the check and 127.0.0.1 to the
connection (DNS rebinding). The name is resolved once; the request goes to that address
with the name in the Host header and as the TLS server name. DNS is the one system these
tests cannot run, so the resolver's answers are scripted; the HTTP side is real: httpx's
own transport records what would go on the wire, and a real TLS server proves that the
certificate is checked against the name while the connection goes to an address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.notifications.channels.webhook import WebhookChannel
from app.notifications.content import OutboundMessage, Section, Target

PUBLIC = "93.184.216.34"
NAME = "hooks.example.test"


def _message(url: str) -> OutboundMessage:
    section = Section(
        event_type="ticket.commented", heading="New reply", text="We fixed it.",
        occurred_at=datetime.now(UTC), visibility="public", audience="requester",
        may_see_ticket=True,
    )  # fmt: skip
    return OutboundMessage(
        delivery_id=1, idempotency_key="ticket_event:1:user:7:webhook", channel="webhook",
        user_id=7, recipient_role="end_user", recipient_name="Rita",
        recipient_email="rita@example.net", destination_internal=False, subject="Reply",
        sections=(section,), target=Target(1, url, "whsec_" + "s" * 24, False),
    )  # fmt: skip


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resolver answers PUBLIC first, then 127.0.0.1 (a rebinding name); returns the
    names it was asked."""
    asked: list[str] = []
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: Any, **_: Any) -> list[Any]:
        asked.append(host)
        address = PUBLIC if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return asked


async def test_the_request_goes_to_the_checked_address_with_the_name_kept(
    dns: list[str],
) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        result = await WebhookChannel(http).send(_message(f"https://{NAME}:8443/hook?x=1"))

    assert result.ok, result.detail
    assert dns == [NAME]  # resolved once: a second answer is never used
    (request,) = seen
    assert str(request.url) == f"https://{PUBLIC}:8443/hook?x=1"
    assert request.headers["host"] == f"{NAME}:8443"
    assert request.extensions["sni_hostname"] == NAME


async def test_a_refused_answer_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()

    async def rebinding(host: str, port: Any, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    sent: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(sent.append)) as http:  # type: ignore[arg-type]
        result = await WebhookChannel(http).send(_message(f"http://{NAME}/hook"))
    assert not result.ok
    assert "127.0.0.1" in result.detail
    assert sent == []


# --- the mechanism, on a real TLS server ---------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only NAME; (port, CA file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(204)
            self.send_header("x-host-seen", self.headers.get("host", ""))
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Hook)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert_file
    server.shutdown()


async def test_tls_to_an_address_checks_the_certificate_against_the_name(
    tls_server: tuple[int, Path],
) -> None:
    port, ca = tls_server
    trust = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(verify=trust) as http:
        pinned = await http.post(
            f"https://127.0.0.1:{port}/hook",
            headers={"host": f"{NAME}:{port}"},
            extensions={"sni_hostname": NAME},
        )
        assert pinned.status_code == 204
        assert pinned.headers["x-host-seen"] == f"{NAME}:{port}"
        # Without the name, the same address fails verification: the name is what is
        # checked, so a pinned address cannot be used to present someone else's site.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.post(f"https://127.0.0.1:{port}/hook")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.post(
                f"https://127.0.0.1:{port}/hook", extensions={"sni_hostname": "other.test"}
            )
