"""S3 backend (minio and s3 modes) on aiobotocore: one client for the app's lifetime.

Puts stream (lite/storage/s3upload.py). Create-if-absent and compare-and-swap use
`If-None-Match: *` and `If-Match`. Object reads skip botocore's per-call work: a presigned GET
over a pooled aiohttp session (lite/storage/s3get.py). Presigned URLs for users come from a
second client bound to the public endpoint, so a URL signed inside a container network works in
the user's browser.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from lite.storage.base import (
    AlreadyExists,
    MetadataSource,
    NotFound,
    ObjectInfo,
    PreconditionFailed,
    StorageError,
    Unavailable,
)
from lite.storage.s3errors import translate
from lite.storage.s3get import URL_SECONDS, PlainGets, SignedUrls, session
from lite.storage.s3pool import CallSlots
from lite.storage.s3reader import S3Reader, answer_info, object_info
from lite.storage.s3upload import put_stream

CALL_DEADLINE = 10.0
CALL_SHARE = 0.5


@dataclass(frozen=True)
class S3Options:
    bucket: str
    endpoint_url: str | None  # None: AWS
    public_endpoint_url: str | None
    region: str
    access_key: str | None
    secret_key: str | None
    path_style: bool
    # An unreachable store must become a 503 with Retry-After in seconds, not minutes; a read
    # timeout is per socket read, so long streams are unaffected.
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_attempts: int = 2
    # Sized for bursts (1,000 bots sending their final chunk at once). Object reads hold their
    # connection while they stream, so the sockets are shared out: CALL_SHARE of them for calls
    # (botocore's pool), the rest for reads (s3get's pool); never more than this in all.
    max_pool_connections: int = 256


class S3Storage:
    def __init__(self, name: str, options: S3Options) -> None:
        self.name = name
        self.options = options
        self.bucket = options.bucket
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._signer: Any = None
        self._gets: PlainGets | None = None
        self._calls = max(1, int(options.max_pool_connections * CALL_SHARE))
        self._slots = CallSlots(self._calls)

    def _config(self) -> AioConfig:
        o = self.options
        return AioConfig(
            region_name=o.region,
            signature_version="s3v4",
            connect_timeout=o.connect_timeout,
            read_timeout=o.read_timeout,
            retries={"total_max_attempts": o.max_attempts, "mode": "standard"},
            max_pool_connections=self._calls,
            s3={"addressing_style": "path" if o.path_style else "auto"},
            # Other S3-compatible providers reject the newer default checksum headers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

    async def open(self) -> S3Storage:
        session = _session()
        creds = {
            "aws_access_key_id": self.options.access_key or None,
            "aws_secret_access_key": self.options.secret_key or None,
        }
        config = self._config()
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "s3", endpoint_url=self.options.endpoint_url, config=config, **creds
            )
        )
        public = self.options.public_endpoint_url or self.options.endpoint_url
        self._signer = await self._stack.enter_async_context(
            session.create_client("s3", endpoint_url=public, config=config, **creds)
        )
        self._gets = await self._open_gets()
        return self

    async def _open_gets(self) -> PlainGets:
        o = self.options
        tls = not (o.endpoint_url or "").startswith("http://")
        reads = max(1, o.max_pool_connections - self._calls)
        http = session(reads, o.connect_timeout, o.read_timeout, tls)
        self._stack.push_async_callback(http.close)

        async def sign(key: str) -> str:
            params = {"Bucket": self.bucket, "Key": key}
            url: str = await self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=URL_SECONDS
            )
            return url

        return PlainGets(http, SignedUrls(sign), o.max_attempts)

    async def aclose(self) -> None:
        await self._stack.aclose()

    async def _call(self, op: str, key: str, **params: Any) -> Any:
        # One deadline over all attempts: a store that accepts connections but never answers
        # (a hung process) stalls uploads past botocore's read timeout, so bound the whole call,
        # allowing a body at least 1 MiB/s.
        body = params.get("Body")
        deadline = CALL_DEADLINE + (len(body) / 2**20 if isinstance(body, bytes) else 0)
        async with self._slots.slot():
            try:
                with anyio.fail_after(deadline):
                    return await getattr(self._client, op)(Bucket=self.bucket, **params)
            except (ClientError, BotoCoreError, OSError) as exc:
                raise translate(exc, key) from None
            except TimeoutError:
                raise Unavailable(
                    f"object storage did not answer within {deadline:.0f} s"
                ) from None

    # --- writes ---------------------------------------------------------------------------------

    async def put(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        return await self._put(key, data, {}, metadata)

    async def put_if_absent(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        try:
            return await self._put(key, data, {"IfNoneMatch": "*"}, metadata)
        except PreconditionFailed:
            raise AlreadyExists(f"{key} exists") from None

    async def put_if_match(
        self,
        key: str,
        data: AsyncIterable[bytes],
        etag: str,
        metadata: MetadataSource | None = None,
    ) -> ObjectInfo:
        # A missing key answers 404 on some servers and 412 on others: both mean "changed".
        try:
            return await self._put(key, data, {"IfMatch": f'"{etag}"'}, metadata)
        except NotFound:
            raise PreconditionFailed(f"{key} is gone") from None

    async def _put(
        self,
        key: str,
        data: AsyncIterable[bytes],
        cond: dict[str, str],
        metadata: MetadataSource | None,
    ) -> ObjectInfo:
        return await put_stream(self._call, key, data, cond, metadata)

    # --- reads ----------------------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo:
        head = await self._call("head_object", key, Key=key)
        return object_info(
            key, head["ContentLength"], head["ETag"], head.get("LastModified"), head.get("Metadata")
        )

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> S3Reader:
        assert self._gets is not None, "open() the storage first"
        wanted = f"bytes={start}-{'' if end is None else end}" if start or end is not None else None
        try:
            async with self._slots.slot():
                with anyio.fail_after(CALL_DEADLINE):
                    got = await self._gets.fetch(key, wanted)
        except TimeoutError:
            raise Unavailable("object storage did not answer in time") from None
        if got is None:
            # Nothing lies in the range (an empty object): an empty read, like a file past EOF.
            return S3Reader(None, await self.stat(key))
        try:
            return S3Reader(got, answer_info(key, got.headers))
        except BaseException:
            got.close()
            raise

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        async for page in self._pages(prefix):
            for obj in page.get("Contents", []):
                yield object_info(obj["Key"], obj["Size"], obj["ETag"], obj.get("LastModified"))

    async def _pages(self, prefix: str, **extra: str) -> AsyncIterator[dict[str, Any]]:
        """ListObjectsV2 pages, each under the call deadline."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = aiter(paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra))
        while True:
            try:
                async with self._slots.slot():
                    with anyio.fail_after(CALL_DEADLINE):
                        page = await anext(pages)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise Unavailable("object storage did not answer in time") from None
            except (ClientError, BotoCoreError, OSError) as exc:
                raise translate(exc, prefix) from None
            yield page

    async def list_children(self, prefix: str) -> builtins.list[str]:
        names: builtins.list[str] = []
        async for page in self._pages(prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(prefix) :].rstrip("/"))
        return sorted(names)

    # --- the rest -------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call("delete_object", key, Key=key)

    async def sweep_leftovers(self, before: datetime) -> int:
        """Abort multipart uploads begun before `before` (their writer died)."""
        found = await self._call("list_multipart_uploads", "")
        stale = [u for u in found.get("Uploads", []) if u["Initiated"] < before]
        for upload in stale:
            with contextlib.suppress(StorageError):
                await self._call(
                    "abort_multipart_upload",
                    upload["Key"],
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
        return len(stale)

    async def check_writable(self) -> None:
        try:
            await self._call("head_bucket", "")
        except NotFound:  # HEAD Bucket answers a bare 404 for a missing bucket
            raise Unavailable(f"the bucket {self.bucket!r} does not exist") from None
        probe = f"_system/probe/{secrets.token_hex(8)}"
        await self._call("put_object", probe, Key=probe, Body=b"ok")
        await self.delete(probe)

    async def presign_get(
        self,
        key: str,
        expires_in: int,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            params["ResponseContentType"] = content_type
        if content_disposition:
            params["ResponseContentDisposition"] = content_disposition
        url: str = await self._signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return url


@functools.cache
def _session() -> Any:
    """One botocore session per process: it parses the service models once (~0.3 s)."""
    return get_session()
