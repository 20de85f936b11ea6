"""Every change the local backend makes to its tree, made durable: directories created, temp files
written and fsynced, objects published (replace, create-if-absent, compare-and-swap), objects
deleted and their emptied directories pruned.

A put writes a temp file in the object's directory, fsyncs it, publishes it with `os.replace`
(or `os.link` for create-if-absent) and fsyncs the directory: a crash at any moment leaves the old
object or the new one, never a torn one. Temp and lock files start with "." and are never listed
(no valid key component starts with a dot).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import UTC, datetime

import anyio
import anyio.to_thread

from lite.storage import files
from lite.storage.base import (
    AlreadyExists,
    InsufficientStorage,
    MetadataSource,
    NotFound,
    ObjectInfo,
    PreconditionFailed,
    StorageError,
    Unavailable,
)

WRITE_BUFFER = 1024 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_PRUNE_RACE_ATTEMPTS = 5
TEMP_PREFIX = ".tmp-"
Copier = Callable[[int], None]  # writes a whole body to the temp file's descriptor
Body = AsyncIterable[bytes] | Copier
Publish = Callable[[str, str, str, str | None], os.stat_result]  # (key, temp, path, etag)


def object_info(key: str, st: os.stat_result, metadata: dict[str, str] | None = None) -> ObjectInfo:
    etag, modified = _validators(st.st_ino, st.st_mtime_ns, st.st_size, st.st_mtime)
    return ObjectInfo(
        key=key, size=st.st_size, etag=etag, modified=modified, metadata=metadata or {}
    )


@functools.lru_cache(maxsize=4096)  # a seek re-opens the same file: its validators repeat
def _validators(inode: int, mtime_ns: int, size: int, mtime: float) -> tuple[str, datetime]:
    # A replace always publishes a new inode, so (inode, mtime, size) changes with every write.
    tag = f"{inode:x}-{mtime_ns:x}-{size:x}"
    return hashlib.sha256(tag.encode()).hexdigest()[:32], datetime.fromtimestamp(mtime, UTC)


def translate(exc: OSError, key: str) -> StorageError:
    if exc.errno in _NO_SPACE:
        return InsufficientStorage("no space left on the recordings volume")
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ELOOP:  # ELOOP: a symlink
        return NotFound(f"no object {key}")
    return Unavailable(f"local storage error ({errno.errorcode.get(exc.errno or 0, 'EIO')})")


class DurableTree:
    """The tree under `root`, changed only in ways a crash cannot tear (fsync off: tests and
    benchmarks, where durability is not the point)."""

    def __init__(self, root: str, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync

    # --- directories ----------------------------------------------------------------------------

    def ensure_dir(self, directory: str) -> None:
        """Create missing directories; fsync each new one's parent so the entry is durable."""
        missing: list[str] = []
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for new_dir in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(new_dir)
            self.sync_dir(os.path.dirname(new_dir))

    def sync_dir(self, directory: str) -> None:
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- publishing -----------------------------------------------------------------------------

    async def publish(
        self,
        key: str,
        path: str,
        data: Body,
        mode: str,
        etag: str | None = None,
        metadata: MetadataSource | None = None,
    ) -> ObjectInfo:
        """Write data to a temp file beside path, then publish it by mode ("replace", "create"
        or "cas" against etag). A body of at most WRITE_BUFFER bytes (most chunks) is gathered
        first, so the temp file, its fsync, the publish and the directory's fsync share one
        thread hop; a longer one streams to the temp file as it arrives."""
        publish = {"replace": self._replace, "create": self._create, "cas": self._cas}[mode]
        if not callable(data):
            data = await _gathered(data)
        try:
            if callable(data):
                st = await anyio.to_thread.run_sync(
                    self._write_and_publish, key, path, data, metadata, publish, etag
                )
            else:
                st = await self._stream_and_publish(key, path, data, metadata, publish, etag)
        except OSError as exc:
            raise translate(exc, key) from None
        return object_info(key, st, dict(metadata()) if metadata else None)

    def _write_and_publish(
        self,
        key: str,
        path: str,
        copy: Copier,
        meta: MetadataSource | None,
        publish: Publish,
        etag: str | None,
    ) -> os.stat_result:
        temp = _temp_name(path)
        fd = self._open_temp(temp)
        try:
            try:
                copy(fd)
                self._finish_temp(fd, b"", meta)
            finally:
                os.close(fd)
            return publish(key, temp, path, etag)
        finally:
            files.unlink_quietly(temp)

    async def _stream_and_publish(
        self,
        key: str,
        path: str,
        data: AsyncIterable[bytes],
        metadata: MetadataSource | None,
        publish: Publish,
        etag: str | None,
    ) -> os.stat_result:
        temp = ""
        try:
            temp = await self._write_temp(path, data, metadata)
            return await anyio.to_thread.run_sync(publish, key, temp, path, etag)
        finally:
            if temp:
                files.unlink_quietly(temp)

    async def _write_temp(
        self, path: str, data: AsyncIterable[bytes], metadata: MetadataSource | None
    ) -> str:
        temp = _temp_name(path)
        fd = await anyio.to_thread.run_sync(self._open_temp, temp)
        try:
            await self._write_stream(fd, data, metadata)
        except BaseException:
            os.close(fd)
            files.unlink_quietly(temp)
            raise
        os.close(fd)
        return temp

    async def _write_stream(
        self, fd: int, data: AsyncIterable[bytes], metadata: MetadataSource | None
    ) -> None:
        # Coalesce small body pieces so each thread hop writes up to 1 MiB.
        pending = bytearray()
        async for block in data:
            if not pending and len(block) >= WRITE_BUFFER:
                await anyio.to_thread.run_sync(files.write_fully, fd, block)  # no copy
                continue
            pending += block
            if len(pending) >= WRITE_BUFFER:
                await anyio.to_thread.run_sync(files.write_fully, fd, bytes(pending))
                pending.clear()
        # The last piece, the metadata and the fsync share one thread hop.
        await anyio.to_thread.run_sync(self._finish_temp, fd, bytes(pending), metadata)

    def _open_temp(self, temp: str) -> int:
        """Create the temp file, with its directory. Another write's delete may prune the
        directory between the two (it was empty): then make it again. Once the temp file is
        in it, the directory is not empty and cannot be pruned."""
        for _ in range(_PRUNE_RACE_ATTEMPTS):
            self.ensure_dir(os.path.dirname(temp))
            try:
                return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                continue
        raise Unavailable("the directory keeps vanishing; retry")

    def _finish_temp(self, fd: int, tail: bytes, metadata: MetadataSource | None) -> None:
        files.write_fully(fd, tail)
        files.write_metadata(fd, metadata)
        if self.fsync:
            os.fsync(fd)

    def _replace(self, key: str, temp: str, path: str, etag: str | None) -> os.stat_result:
        st = os.stat(temp)
        os.replace(temp, path)
        self.sync_dir(os.path.dirname(path))
        return st

    def _create(self, key: str, temp: str, path: str, etag: str | None) -> os.stat_result:
        try:
            os.link(temp, path)  # atomic create-if-absent, also across processes
        except FileExistsError:
            raise AlreadyExists(f"{key} exists") from None
        os.unlink(temp)
        self.sync_dir(os.path.dirname(path))
        return os.stat(path)

    def _cas(self, key: str, temp: str, path: str, etag: str | None) -> os.stat_result:
        with files.dir_lock(os.path.dirname(path)):
            try:
                current = object_info(key, os.stat(path)).etag
            except FileNotFoundError:
                current = None
            if current != etag:
                raise PreconditionFailed(f"{key} changed (etag {current} != {etag})")
            return self._replace(key, temp, path, etag)

    # --- deleting -------------------------------------------------------------------------------

    def delete_path(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise translate(exc, path) from None
        try:
            self.sync_dir(os.path.dirname(path))
        except FileNotFoundError:  # emptied and pruned meanwhile by another process's delete
            return
        self._prune(os.path.dirname(path))

    def _prune(self, directory: str) -> None:
        """Remove directories left empty so a deleted recording leaves nothing behind."""
        while directory != self.root and directory.startswith(self.root + os.sep):
            try:
                left = os.listdir(directory)
            except FileNotFoundError:  # another process pruned it (and so its parents) first
                break
            if left == [".lock"]:
                # Only the CAS lock is left; with the manifest gone no CAS can succeed here.
                files.unlink_quietly(os.path.join(directory, ".lock"))
            try:
                os.rmdir(directory)
            except OSError:
                break
            directory = os.path.dirname(directory)


def _temp_name(path: str) -> str:
    name = f"{TEMP_PREFIX}{os.path.basename(path)}-{secrets.token_hex(6)}"
    return os.path.join(os.path.dirname(path), name)


async def _gathered(data: AsyncIterable[bytes]) -> Body:
    """The body as a Copier when it ends within WRITE_BUFFER bytes (a failing body raises here,
    before anything is created); else a stream of the blocks read so far and the rest."""
    source = aiter(data)
    blocks: list[bytes] = []
    size = 0
    while size < WRITE_BUFFER:
        try:
            block = await anext(source)
        except StopAsyncIteration:
            return functools.partial(_write_blocks, blocks)
        blocks.append(block)
        size += len(block)
    return _chained(blocks, source)


def _write_blocks(blocks: list[bytes], fd: int) -> None:
    for block in blocks:
        files.write_fully(fd, block)


async def _chained(blocks: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for block in blocks:
        yield block
    async for block in rest:
        yield block
