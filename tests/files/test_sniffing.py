"""Attachment types come from the bytes, never from the name or the client's claim."""

from __future__ import annotations

import pytest

from app.files.sniffing import sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04\x14\x00", "application/zip"),
        ("Grüße, the log says:\n\terror 42\n".encode(), "text/plain; charset=utf-8"),
    ],
)
def test_allowed_kinds_are_recognised(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00\x03\x00",  # a Windows executable
        b"\x7fELF\x02\x01\x01",  # a Linux one
        b"",
        b"\x00\x01\x02 binary",
        "Grüße".encode("latin-1") + b" not utf-8",
    ],
)
def test_other_kinds_are_refused(data: bytes) -> None:
    assert sniff(data) is None


def test_a_probe_that_cuts_a_character_in_two_is_still_text() -> None:
    data = b"a" * 8191 + "é".encode()  # the 2-byte character straddles the 8 KiB probe
    assert sniff(data) == "text/plain; charset=utf-8"
