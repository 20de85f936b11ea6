"""Local-disk backend: crash-safe publishes, ranged reads with one thread hop per chunk.

A put writes a temp file in the object's directory, fsyncs it, publishes it with `os.replace`
(or `os.link` for create-if-absent) and fsyncs the directory: a crash at any moment leaves the old
object or the new one, never a torn one. Temp and lock files start with "." and are never listed
(no valid key component starts with a dot).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
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
    Piece,
    PreconditionFailed,
    StorageError,
    Unavailable,
)
from lite.storage.localreader import READ_CHUNK, LocalReader

_DIRECTORY_CACHE_LIMIT = 10_000
WRITE_BUFFER = 1024 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_PRUNE_RACE_ATTEMPTS = 5
TEMP_PREFIX = ".tmp-"
Copier = Callable[[int], None]  # writes a whole body to the temp file's descriptor


def _info(key: str, st: os.stat_result, metadata: dict[str, str] | None = None) -> ObjectInfo:
    # A replace always publishes a new inode, so (inode, mtime, size) changes with every write.
    tag = f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"
    return ObjectInfo(
        key=key,
        size=st.st_size,
        etag=hashlib.sha256(tag.encode()).hexdigest()[:32],
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
        metadata=metadata or {},
    )


def _translate(exc: OSError, key: str) -> StorageError:
    if exc.errno in _NO_SPACE:
        return InsufficientStorage("no space left on the recordings volume")
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ELOOP:  # ELOOP: a symlink
        return NotFound(f"no object {key}")
    return Unavailable(f"local storage error ({errno.errorcode.get(exc.errno or 0, 'EIO')})")


class LocalStorage:
    name = "local"

    def __init__(self, root: str, fsync: bool = True) -> None:
        self.root = os.path.realpath(root)
        self.fsync = fsync
        self._directories: dict[str, str] = {}
        self._inline_reads = hasattr(os, "RWF_NOWAIT")

    # --- paths ----------------------------------------------------------------------------------

    def path_of(self, key: str) -> str:
        """The file of key, verified to stay under the root (defence in depth behind lite.keys)."""
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise NotFound(f"no object {key!r}")
        directory = self._real_directory(parts[:-1])
        if directory is None:
            raise NotFound(f"no object {key!r}")
        # The last component is never followed as a symlink (files open with O_NOFOLLOW).
        return os.path.join(directory, parts[-1])

    def _real_directory(self, parts: builtins.list[str]) -> str | None:
        """The resolved directory, or None when it escapes the root. Cached: resolving a path
        costs a syscall per component, on every request."""
        relative = "/".join(parts)
        found = self._directories.get(relative)
        if found is None:
            found = os.path.realpath(os.path.join(self.root, *parts))
            if len(self._directories) >= _DIRECTORY_CACHE_LIMIT:
                self._directories.clear()
            self._directories[relative] = found
        inside = found == self.root or found.startswith(self.root + os.sep)
        return found if inside else None

    def _ensure_dir(self, directory: str) -> None:
        """Create missing directories; fsync each new one's parent so the entry is durable."""
        missing: list[str] = []
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for new_dir in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(new_dir)
            self._sync_dir(os.path.dirname(new_dir))

    def _sync_dir(self, directory: str) -> None:
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- writes ---------------------------------------------------------------------------------

    async def _write_temp(
        self, path: str, data: AsyncIterable[bytes] | Copier, metadata: MetadataSource | None
    ) -> str:
        temp = os.path.join(
            os.path.dirname(path), f"{TEMP_PREFIX}{os.path.basename(path)}-{secrets.token_hex(6)}"
        )
        fd = await anyio.to_thread.run_sync(self._open_temp, temp)
        try:
            if callable(data):  # writes the whole body itself: one thread hop in all
                await anyio.to_thread.run_sync(self._copy_and_finish, fd, data, metadata)
            else:
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

    def _copy_and_finish(self, fd: int, copy: Copier, metadata: MetadataSource | None) -> None:
        copy(fd)
        self._finish_temp(fd, b"", metadata)

    def _open_temp(self, temp: str) -> int:
        """Create the temp file, with its directory. Another write's delete may prune the
        directory between the two (it was empty): then make it again. Once the temp file is
        in it, the directory is not empty and cannot be pruned."""
        for _ in range(_PRUNE_RACE_ATTEMPTS):
            self._ensure_dir(os.path.dirname(temp))
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

    async def _publish(
        self,
        key: str,
        data: AsyncIterable[bytes] | Copier,
        mode: str,
        etag: str | None = None,
        metadata: MetadataSource | None = None,
    ) -> ObjectInfo:
        path = self.path_of(key)
        temp = ""
        try:
            temp = await self._write_temp(path, data, metadata)
            publish = {"replace": self._replace, "create": self._create, "cas": self._cas}[mode]
            st = await anyio.to_thread.run_sync(publish, key, temp, path, etag)
        except OSError as exc:
            raise _translate(exc, key) from None
        finally:
            if temp:
                files.unlink_quietly(temp)
        return _info(key, st, dict(metadata()) if metadata else None)

    def _replace(self, key: str, temp: str, path: str, etag: str | None) -> os.stat_result:
        st = os.stat(temp)
        os.replace(temp, path)
        self._sync_dir(os.path.dirname(path))
        return st

    def _create(self, key: str, temp: str, path: str, etag: str | None) -> os.stat_result:
        try:
            os.link(temp, path)  # atomic create-if-absent, also across processes
        except FileExistsError:
            raise AlreadyExists(f"{key} exists") from None
        os.unlink(temp)
        self._sync_dir(os.path.dirname(path))
        return os.stat(path)

    def _cas(self, key: str, temp: str, path: str, etag: str | None) -> os.stat_result:
        with files.dir_lock(os.path.dirname(path)):
            try:
                current = _info(key, os.stat(path)).etag
            except FileNotFoundError:
                current = None
            if current != etag:
                raise PreconditionFailed(f"{key} changed (etag {current} != {etag})")
            return self._replace(key, temp, path, etag)

    async def put(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        return await self._publish(key, data, "replace", metadata=metadata)

    async def put_if_absent(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        return await self._publish(key, data, "create", metadata=metadata)

    async def put_if_match(
        self,
        key: str,
        data: AsyncIterable[bytes],
        etag: str,
        metadata: MetadataSource | None = None,
    ) -> ObjectInfo:
        return await self._publish(key, data, "cas", etag, metadata)

    async def compose(self, key: str, pieces: Sequence[Piece]) -> tuple[ObjectInfo, str]:
        """The master of a finalize: each chunk range is read and written in a worker thread
        (no bytes through the event loop), hashed in the same pass."""
        sources = [(self.path_of(p.key) if p.key else "", p) for p in pieces]
        digest = hashlib.sha256()

        def copy(fd: int) -> None:
            files.copy_pieces(fd, sources, digest)

        info = await self._publish(
            key, copy, "replace", None, lambda: {"sha256": digest.hexdigest()}
        )
        return info, digest.hexdigest()

    # --- reads ----------------------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo:
        path = self.path_of(key)
        try:
            st, metadata = await anyio.to_thread.run_sync(files.stat_with_metadata, path)
        except OSError as exc:
            raise _translate(exc, key) from None
        return _info(key, st, metadata)

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> LocalReader:
        path = self.path_of(key)
        try:
            if self._inline_reads:
                # Cached bytes are read on the event loop: a seek then costs no thread hop.
                opened = files.open_range(path, start, end, READ_CHUNK, cached_only=True)
            else:
                opened = await anyio.to_thread.run_sync(
                    files.open_range, path, start, end, READ_CHUNK
                )
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL) and self._inline_reads:
                self._inline_reads = False  # no RWF_NOWAIT on this filesystem: threads only
                return await self.open_range(key, start, end)
            raise _translate(exc, key) from None
        info = _info(key, opened.stat, opened.metadata)
        last = opened.stat.st_size - 1 if end is None else min(end, opened.stat.st_size - 1)
        start += len(opened.prefetched)
        return LocalReader(opened.fd, info, start, last, opened.prefetched)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        found = await anyio.to_thread.run_sync(self._scan, prefix)
        for info in found:
            yield info

    def _scan(self, prefix: str) -> builtins.list[ObjectInfo]:
        """Entries of the prefix's directory whose names match its last part (so a lookup like
        `chunks/0000000007.` reads one directory listing, not every chunk's stat)."""
        directory, _, start = prefix.rpartition("/")
        base = os.path.join(self.root, *directory.split("/")) if directory else self.root
        head = f"{directory}/" if directory else ""
        found: builtins.list[ObjectInfo] = []
        for name, is_dir in files.entries(base):
            if not name.startswith(start):
                continue
            paths = (
                files.walk_files(os.path.join(base, name)) if is_dir else [os.path.join(base, name)]
            )
            for path in paths:
                key = head + os.path.relpath(path, base).replace(os.sep, "/")
                with contextlib.suppress(FileNotFoundError):
                    found.append(_info(key, os.stat(path)))
        found.sort(key=lambda info: info.key)
        return found

    async def list_children(self, prefix: str) -> builtins.list[str]:
        directory = self.path_of(prefix.rstrip("/")) if prefix.strip("/") else self.root
        try:
            return await anyio.to_thread.run_sync(files.subdirectories, directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _translate(exc, prefix) from None

    def local_path(self, key: str) -> str:
        return self.path_of(key)

    # --- the rest -------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        if key.endswith("/"):
            # Directories are pruned as their last object goes; nothing is left to remove.
            return
        path = self.path_of(key)
        await anyio.to_thread.run_sync(self._delete_path, path)

    def _delete_path(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _translate(exc, path) from None
        try:
            self._sync_dir(os.path.dirname(path))
        except FileNotFoundError:  # emptied and pruned meanwhile by another process's delete
            return
        # Prune directories left empty so a deleted recording leaves nothing behind.
        directory = os.path.dirname(path)
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

    async def sweep_leftovers(self, before: datetime) -> int:
        """Temp files of writes interrupted by a crash (none is written to for that long)."""
        return await anyio.to_thread.run_sync(files.remove_stale, self.root, TEMP_PREFIX, before)

    async def check_writable(self) -> None:
        probe = f"_system/probe/{secrets.token_hex(8)}"
        await self.put(probe, _one(b"ok"))
        await self.delete(probe)

    async def aclose(self) -> None:
        return None


async def _one(payload: bytes) -> AsyncIterator[bytes]:
    yield payload
