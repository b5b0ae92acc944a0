"""What a file is, by its first bytes: the allowlist of attachment types.

The name and the type the client claims are never trusted; a file is one of these or is
refused. A small table instead of libmagic: these few formats have fixed signatures, and
the table is the allowlist (libmagic would happily recognise HTML or SVG, which we must
never serve as such).
"""

from __future__ import annotations

# (offset, signature) -> content type; every signature at its offset must match.
_SIGNATURES: list[tuple[tuple[tuple[int, bytes], ...], str]] = [
    (((0, b"\x89PNG\r\n\x1a\n"),), "image/png"),
    (((0, b"\xff\xd8\xff"),), "image/jpeg"),
    (((0, b"GIF87a"),), "image/gif"),
    (((0, b"GIF89a"),), "image/gif"),
    (((0, b"RIFF"), (8, b"WEBP")), "image/webp"),
    (((0, b"%PDF-"),), "application/pdf"),
    # ZIP, and so the Office Open XML and OpenDocument files built on it: offered as a
    # download only, never opened by the browser.
    (((0, b"PK\x03\x04"),), "application/zip"),
]

# Images the browser may show inline (thumbnails): raster formats without scripts.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_PROBE = 8192


def sniff(data: bytes) -> str | None:
    """The content type of `data` if it is of an allowed kind, else None."""
    for signature, content_type in _SIGNATURES:
        if all(data[at : at + len(sig)] == sig for at, sig in signature):
            return content_type
    if _is_text(data[:_TEXT_PROBE]):
        return "text/plain; charset=utf-8"
    return None


def _is_text(head: bytes) -> bool:
    """UTF-8 without NUL or other control characters than tab, newlines and form feed."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The probe may cut a multi-byte character in two: only the last 3 bytes may fail.
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text) and "\x7f" not in text
