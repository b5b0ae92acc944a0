"""Small files of each kind, and uploading them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import auth

# A real 1x1 PNG (what a screenshot is, only smaller).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005fe02fea7d6a4"
    "4a0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"


async def upload(
    client: httpx.AsyncClient,
    token: str,
    ticket_id: int,
    data: bytes = PNG,
    *,
    filename: str = "screenshot.png",
    claimed_type: str = "image/png",
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{ticket_id}/attachments",
        files={"file": (filename, data, claimed_type)},
        headers=auth(token),
    )


async def post_message(
    client: httpx.AsyncClient, token: str, ticket_id: int, body: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{ticket_id}/messages",
        json={"body": body, **extra},
        headers=auth(token),
    )
