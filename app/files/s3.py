"""Blobs in an S3-compatible store (AWS S3, MinIO, Ceph RGW, Garage, ...) via aiobotocore.

aiobotocore is botocore (request signing, retries, the credential chain) on aiohttp, so no
request blocks the event loop or takes a thread. One client per process, opened lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from app.files.keys import blob_key, check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self._options = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def _s3(self) -> S3Client:
        async with self._lock:
            if self._client is None:
                # None values fall back to botocore's usual chain (AWS_* variables, files).
                options = {k: v for k, v in self._options.items() if v is not None}
                creating = get_session().create_client("s3", **options)  # type: ignore[call-overload]
                client: S3Client = await self._stack.enter_async_context(creating)
                self._client = client
            return self._client

    async def put(self, data: bytes) -> str:
        key = blob_key(data)
        s3 = await self._s3()
        await s3.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType="application/octet-stream",  # served by us, never from the bucket
        )
        return key

    async def get(self, key: str) -> bytes | None:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        async with response["Body"] as stream:
            data: bytes = await stream.read()
            return data

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
