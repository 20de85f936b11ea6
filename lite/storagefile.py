"""A stored object as a blocking, seekable file, for libraries that read files (PyAV).

Use it only in a worker thread started by `anyio.to_thread.run_sync`: every read runs a ranged
read on the event loop (`anyio.from_thread.run`) and waits for it. A master replaced while it is
read (a rebuild) raises StaleMedia instead of mixing two versions.
"""

from __future__ import annotations

import io

import anyio.from_thread

from lite.errors import StaleMedia
from lite.storage.base import Storage

BUFFER = 1024 * 1024


class StorageFile(io.RawIOBase):
    def __init__(self, storage: Storage, key: str, size: int, etag: str | None) -> None:
        self._storage, self._key, self._size, self._etag = storage, key, size, etag
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        end = min(self._size, self._pos + len(buffer)) - 1
        if end < self._pos:
            return 0
        data = anyio.from_thread.run(self._read, self._pos, end)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    async def _read(self, start: int, end: int) -> bytes:
        reader = await self._storage.open_range(self._key, start, end)
        try:
            if self._etag and reader.info.etag != self._etag:
                raise StaleMedia("the media file was rebuilt while it was read")
            return b"".join([block async for block in reader])
        finally:
            await reader.aclose()


def open_stored(storage: Storage, key: str, size: int, etag: str | None) -> io.BufferedReader:
    return io.BufferedReader(StorageFile(storage, key, size, etag), BUFFER)
