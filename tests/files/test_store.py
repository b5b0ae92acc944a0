"""Both blob stores keep bytes by their SHA-256: the local folder and a real S3 server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.config import Settings
from app.files.store import BlobStore, LocalBlobStore, blob_store
from tests.files.support import make_bucket


@pytest.fixture(params=["file", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str, s3_url: str
) -> AsyncIterator[BlobStore]:
    if request.param == "file":
        made = blob_store(tmp_path.as_uri())
    else:
        await make_bucket(s3_endpoint)
        made = blob_store(s3_url)
    yield made
    await made.close()


async def test_put_returns_the_sha256_and_get_gives_the_bytes_back(store: BlobStore) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    key = await store.put(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert await store.exists(key)
    assert await store.get(key) == data
    assert await store.put(data) == key  # the same content again: same key, still there
    assert await store.get(key) == data


async def test_delete_removes_and_missing_keys_are_none(store: BlobStore) -> None:
    key = await store.put(b"to be deleted")
    await store.delete(key)
    assert not await store.exists(key)
    assert await store.get(key) is None
    await store.delete(key)  # deleting twice is harmless


async def test_keys_are_never_paths(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        await store.get("../../etc/passwd")


def test_the_default_location_is_under_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    store = blob_store(settings.files_location)
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path.resolve() / "files"


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown files URL scheme"):
        blob_store("ftp://example.org/files")
