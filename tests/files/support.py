"""Small files of each kind, and uploading them."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
from aiobotocore.session import get_session

from tests.factories import auth

BUCKET = "socialdesk-test"
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


def make_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (for screenshots that show a visible thumbnail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


async def make_bucket(endpoint: str) -> None:
    """The test bucket on the S3 server at `endpoint` (made once, kept)."""
    async with get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="secret",
    ) as s3:
        buckets = await s3.list_buckets()
        if BUCKET not in {b.get("Name") for b in buckets.get("Buckets", [])}:
            await s3.create_bucket(Bucket=BUCKET)
