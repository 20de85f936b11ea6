"""Streaming puts of the S3 backend.

The first part is buffered; a stream that ends within it is one PutObject, a longer one becomes
a multipart upload of equal parts, up to PARALLEL_PARTS of them in flight. Every body carries its
Content-MD5, and a failed or cancelled multipart upload is aborted.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from lite.storage.base import MetadataSource, ObjectInfo, StorageError
from lite.storage.s3parts import PART_SIZE, fill, first_error
from lite.storage.s3reader import object_info

PARALLEL_PARTS = 4  # parts in flight per upload: 4 x 8 MiB of memory at most

# One S3 call under the backend's deadline and error translation: call(operation, key, **params).
Call = Callable[..., Awaitable[Any]]


async def put_stream(
    call: Call,
    key: str,
    data: AsyncIterable[bytes],
    cond: dict[str, str],
    metadata: MetadataSource | None,
) -> ObjectInfo:
    stream = aiter(data)
    first = await fill(stream, bytearray())
    if len(first) < PART_SIZE:
        # The stream is consumed, so metadata (a digest of the bytes) can go with the object.
        meta = dict(metadata()) if metadata else {}
        body = bytes(first)
        done = await call(
            "put_object", key, Key=key, Body=body, ContentMD5=md5(body), Metadata=meta, **cond
        )
        return object_info(key, len(first), done["ETag"], None, meta)
    # A multipart upload names its metadata before the bytes; readers recompute it then.
    return await _multipart(call, key, first, stream, cond)


async def _multipart(
    call: Call, key: str, first: bytearray, stream: AsyncIterator[bytes], cond: dict[str, str]
) -> ObjectInfo:
    upload = await call("create_multipart_upload", key, Key=key)
    upload_id = upload["UploadId"]
    try:
        etags, size = await first_error(_upload_parts(call, key, upload_id, first, stream))
        parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
        done = await call(
            "complete_multipart_upload",
            key,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **cond,
        )
    except BaseException:
        # Shielded: a cancelled request (client gone, shutdown) must still abort the upload.
        with anyio.CancelScope(shield=True), contextlib.suppress(StorageError):
            await call("abort_multipart_upload", key, Key=key, UploadId=upload_id)
        raise
    return object_info(key, size, done["ETag"], None)


async def _upload_parts(
    call: Call, key: str, upload_id: str, first: bytearray, stream: AsyncIterator[bytes]
) -> tuple[dict[int, str], int]:
    """Read parts in order and upload up to PARALLEL_PARTS at once (bounded memory)."""
    etags: dict[int, str] = {}
    slots = anyio.Semaphore(PARALLEL_PARTS)
    size, number, buffer = 0, 0, first

    async def upload(number: int, part: bytes) -> None:
        try:
            done = await call(
                "upload_part",
                key,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=part,
                ContentMD5=md5(part),
            )
            etags[number] = done["ETag"]
        finally:
            slots.release()

    async with anyio.create_task_group() as group:
        while buffer:
            part = bytes(buffer[:PART_SIZE])
            del buffer[:PART_SIZE]
            size, number = size + len(part), number + 1
            await slots.acquire()
            group.start_soon(upload, number, part)
            buffer = await fill(stream, buffer)
    return etags, size


def md5(body: bytes) -> str:
    """Content-MD5: the server refuses a body that arrives cut short or changed (a client killed
    mid-send, a connection dropped) instead of storing what it got."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
