"""Local-disk backend: crash-safe publishes, ranged reads with one thread hop per chunk.

Keys become paths here, verified to stay under the root; reads and listings are here too. Every
change to the tree (temp file, fsync, publish, delete and prune) is `local_durable.DurableTree`'s.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime

import anyio
import anyio.to_thread

from lite.storage import files
from lite.storage.base import MetadataSource, NotFound, ObjectInfo, Piece
from lite.storage.local_durable import TEMP_PREFIX, DurableTree, object_info, translate
from lite.storage.localreader import READ_CHUNK, LocalReader

_DIRECTORY_CACHE_LIMIT = 10_000


class LocalStorage:
    name = "local"

    def __init__(self, root: str, fsync: bool = True) -> None:
        self.root = os.path.realpath(root)
        self._tree = DurableTree(self.root, fsync)
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

    # --- writes ---------------------------------------------------------------------------------

    async def put(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        return await self._tree.publish(key, self.path_of(key), data, "replace", None, metadata)

    async def put_if_absent(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        return await self._tree.publish(key, self.path_of(key), data, "create", None, metadata)

    async def put_if_match(
        self,
        key: str,
        data: AsyncIterable[bytes],
        etag: str,
        metadata: MetadataSource | None = None,
    ) -> ObjectInfo:
        return await self._tree.publish(key, self.path_of(key), data, "cas", etag, metadata)

    async def compose(self, key: str, pieces: Sequence[Piece]) -> tuple[ObjectInfo, str]:
        """The master of a finalize: each chunk range is read and written in a worker thread
        (no bytes through the event loop), hashed in the same pass."""
        sources = [(self.path_of(p.key) if p.key else "", p) for p in pieces]
        digest = hashlib.sha256()

        def copy(fd: int) -> None:
            files.copy_pieces(fd, sources, digest)

        path = self.path_of(key)
        found = await self._tree.publish(
            key, path, copy, "replace", None, lambda: {"sha256": digest.hexdigest()}
        )
        return found, digest.hexdigest()

    # --- reads ----------------------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo:
        path = self.path_of(key)
        try:
            st, metadata = await anyio.to_thread.run_sync(files.stat_with_metadata, path)
        except OSError as exc:
            raise translate(exc, key) from None
        return object_info(key, st, metadata)

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
            raise translate(exc, key) from None
        info = object_info(key, opened.stat, opened.metadata)
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
                    found.append(object_info(key, os.stat(path)))
        found.sort(key=lambda info: info.key)
        return found

    async def list_children(self, prefix: str) -> builtins.list[str]:
        directory = self.path_of(prefix.rstrip("/")) if prefix.strip("/") else self.root
        try:
            return await anyio.to_thread.run_sync(files.subdirectories, directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise translate(exc, prefix) from None

    def local_path(self, key: str) -> str:
        return self.path_of(key)

    # --- the rest -------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        if key.endswith("/"):
            # Directories are pruned as their last object goes; nothing is left to remove.
            return
        path = self.path_of(key)
        await anyio.to_thread.run_sync(self._tree.delete_path, path)

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
