"""Where attachment bytes live: one small interface, content addressed by SHA-256.

`blob_store(url)` picks the backend by URL: `file:///path` (the default, under the state
directory) or `s3://bucket/prefix?endpoint=http://host:port&region=...` for any
S3-compatible store. A key is the hex SHA-256 of the content, so the same file uploaded
twice is stored once, and a key never names two contents.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from app.files.keys import blob_key, check_key
from app.files.s3 import S3BlobStore


class BlobStore(Protocol):
    """Bytes by their SHA-256: put, get, delete, exists."""

    async def put(self, data: bytes) -> str:
        """Store `data`; returns its key (the hex SHA-256). Storing it again is harmless."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The content under `key`, or None when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the content under `key` (nothing happens when there is none)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def close(self) -> None: ...


class LocalBlobStore:
    """Blobs as files `<root>/<ab>/<cd>/<sha256>`, written atomically (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes) -> str:
        key = blob_key(data)
        await asyncio.to_thread(self._write, self._path(key), data)
        return key

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)  # a reader sees the whole file or none
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def close(self) -> None:
        return None


def blob_store(url: str) -> BlobStore:
    """The store a URL names: `file:///dir` or `s3://bucket/prefix?endpoint=...`."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not parts.hostname:
            raise ValueError("an s3:// URL names a bucket: s3://bucket/prefix")
        return S3BlobStore(
            bucket=parts.hostname,
            prefix=parts.path.strip("/"),
            endpoint_url=query.get("endpoint"),
            region=query.get("region", "us-east-1"),
            access_key=unquote(parts.username) if parts.username else None,
            secret_key=unquote(parts.password) if parts.password else None,
        )
    raise ValueError(f"unknown files URL scheme {parts.scheme!r} (file:// or s3://)")
