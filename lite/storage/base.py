"""The storage interface (DESIGN §3): a small async core plus optional capabilities.

Backends implement `Storage`; capabilities are `runtime_checkable` protocols detected with
`isinstance`. Native errors are translated into `lite.errors.StorageError` subclasses at the
boundary, so nothing above this package sees an `OSError` or a botocore exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from lite.errors import (
    AlreadyExists,
    InsufficientStorage,
    NotFound,
    PreconditionFailed,
    StorageError,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "ByteReader",
    "ConditionalWriter",
    "InsufficientStorage",
    "NotFound",
    "ObjectInfo",
    "PreconditionFailed",
    "Presigner",
    "Storage",
    "StorageError",
    "Unavailable",
    "iter_bytes",
    "read_all",
]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # opaque, without quotes; changes whenever the content is replaced
    modified: datetime  # timezone-aware UTC


class ByteReader(Protocol):
    """An open ranged read: iterate for the bytes; always `aclose()` (also on abort)."""

    info: ObjectInfo

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Storage(Protocol):
    name: str

    async def put(self, key: str, data: AsyncIterable[bytes]) -> ObjectInfo:
        """Store the whole stream at key; the object appears only once it is complete."""
        ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteReader:
        """Open bytes [start, end] (inclusive; None = to the end). Raises NotFound at once."""
        ...

    async def delete(self, key: str) -> None:
        """Remove key; a missing key is not an error."""
        ...

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with prefix, in key order."""
        ...

    async def check_writable(self) -> None:
        """Raise a StorageError when the storage cannot be reached or written."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ConditionalWriter(Protocol):
    async def put_if_absent(self, key: str, data: AsyncIterable[bytes]) -> ObjectInfo:
        """Create key only if it does not exist; else AlreadyExists."""
        ...

    async def put_if_match(self, key: str, data: AsyncIterable[bytes], etag: str) -> ObjectInfo:
        """Replace key only while its etag is still `etag`; else PreconditionFailed."""
        ...


@runtime_checkable
class Presigner(Protocol):
    async def presign_get(
        self,
        key: str,
        expires_in: int,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> str:
        """A URL a browser can GET (with Range) without credentials until it expires."""
        ...


async def iter_bytes(payload: bytes) -> AsyncIterator[bytes]:
    """Turn bytes into the async iterator `put` takes."""
    yield payload


async def read_all(storage: Storage, key: str, limit: int = 16 * 1024 * 1024) -> bytes:
    """Read a small object whole (metadata documents); larger than `limit` is a StorageError."""
    reader = await storage.open_range(key)
    try:
        if reader.info.size > limit:
            raise StorageError(f"object too large to read whole: {reader.info.size} bytes")
        parts = [chunk async for chunk in reader]
    finally:
        await reader.aclose()
    return b"".join(parts)
