"""The storage interface: a small async core plus optional capabilities (docs/architecture.md).

Backends implement `Storage`; capabilities are `runtime_checkable` protocols detected with
`isinstance`. Native errors are translated into `lite.errors.StorageError` subclasses at the
boundary, so nothing above this package sees an `OSError` or a botocore exception.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    "Composer",
    "ConditionalWriter",
    "InsufficientStorage",
    "LeftoverSweeper",
    "LocalPaths",
    "MetadataSource",
    "NotFound",
    "ObjectInfo",
    "Piece",
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
    # Small string facts stored with the object (e.g. its sha256); filled by stat and
    # open_range, not by list. A backend that cannot keep them returns {}.
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """Part of an object made from others: literal `data`, or `length` bytes of `fill` (one byte
    repeated, e.g. silence), or bytes [start, start + length) of the stored object `key`."""

    data: bytes = b""
    key: str = ""
    fill: bytes = b""
    start: int = 0
    length: int = 0

    @property
    def size(self) -> int:
        return self.length if self.key or self.fill else len(self.data)


# Metadata is asked for once the stream is consumed, so it can describe the bytes (a digest).
MetadataSource = Callable[[], Mapping[str, str]]


class ByteReader(Protocol):
    """An open ranged read: iterate for the bytes; always `aclose()` (also on abort)."""

    info: ObjectInfo

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Storage(Protocol):
    name: str

    async def put(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        """Store the whole stream at key; the object appears only once it is complete.

        If iterating `data` raises, nothing is stored and the error propagates."""
        ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteReader:
        """Open bytes [start, end] (inclusive; None = to the end). Raises NotFound at once."""
        ...

    async def delete(self, key: str) -> None:
        """Remove key; a missing key is not an error. A key ending in "/" removes that
        "directory" if it is empty (SeaweedFS keeps empty ones, which listings would show)."""
        ...

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with prefix. Order is the backend's (SeaweedFS walks
        directories): callers that need an order sort."""
        ...

    async def list_children(self, prefix: str) -> builtins.list[str]:
        """Names of the 'directories' directly under prefix (which ends with '/'), sorted."""
        ...

    async def check_writable(self) -> None:
        """Raise a StorageError when the storage cannot be reached or written."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ConditionalWriter(Protocol):
    async def put_if_absent(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        """Create key only if it does not exist; else AlreadyExists."""
        ...

    async def put_if_match(
        self,
        key: str,
        data: AsyncIterable[bytes],
        etag: str,
        metadata: MetadataSource | None = None,
    ) -> ObjectInfo:
        """Replace key only while its etag is still `etag`; else PreconditionFailed."""
        ...


@runtime_checkable
class Composer(Protocol):
    async def compose(self, key: str, pieces: Sequence[Piece]) -> tuple[ObjectInfo, str]:
        """Store the pieces joined at key (replacing it, published whole like `put`), hashing
        them in the same pass; return the object and its sha256, kept as its `sha256`
        metadata. Cheaper than `put` of a stream: the bytes need not pass through the loop."""
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


@runtime_checkable
class LeftoverSweeper(Protocol):
    async def sweep_leftovers(self, before: datetime) -> int:
        """Remove what interrupted writes left (temp files, unfinished multipart uploads)
        untouched since `before`; return how many."""
        ...


@runtime_checkable
class LocalPaths(Protocol):
    def local_path(self, key: str) -> str:
        """The file holding key, for tools that read files (ffprobe)."""
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
