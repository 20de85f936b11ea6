"""Ranged reads of the local backend: one `os.pread` per chunk in a worker thread."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from lite.storage.base import ObjectInfo, Unavailable

READ_CHUNK = 1024 * 1024
SMALL_READ_CHUNK = 256 * 1024
_BUSY_READERS = 8


class LocalReader:
    """Bytes [start, end] of a file; each chunk is one `os.pread` in a worker thread. A small
    range arrives already read (`prefetched`), with the file closed."""

    open_readers = 0  # across the process: many concurrent streams read in smaller chunks
    closes_at_once = True  # aclose() never waits: a caller need not shield it from cancellation

    def __init__(
        self, fd: int | None, info: ObjectInfo, start: int, end: int, prefetched: bytes = b""
    ) -> None:
        self.info = info
        self._fd = fd
        self._pos = start
        self._end = end
        self._prefetched = prefetched
        if fd is not None:
            LocalReader.open_readers += 1

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._prefetched:
            data, self._prefetched = self._prefetched, b""
            yield data
        while self._fd is not None and self._pos <= self._end:
            # Large reads are fastest for one stream, but each in-flight block is memory: with
            # many streams, smaller blocks keep the process small (256 KiB-1 MiB).
            size = READ_CHUNK if LocalReader.open_readers <= _BUSY_READERS else SMALL_READ_CHUNK
            want = min(size, self._end - self._pos + 1)
            data = await anyio.to_thread.run_sync(os.pread, self._fd, want, self._pos)
            if not data:
                raise Unavailable(f"{self.info.key} shrank while it was read")
            self._pos += len(data)
            yield data

    async def aclose(self) -> None:
        self._release()

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            LocalReader.open_readers -= 1
            os.close(fd)

    def __del__(self) -> None:  # a reader that was never closed must not leak its descriptor
        self._release()
