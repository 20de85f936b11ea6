"""Filesystem helpers of the local backend: blocking calls, run in worker threads."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lite.storage.base import MetadataSource, Piece, StorageError

XATTR_PREFIX = "user.lite."
COPY_BLOCK = 1024 * 1024
_NO_XATTR = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)


def read_metadata(fd_or_path: int | str) -> dict[str, str]:
    try:
        names = [n for n in os.listxattr(fd_or_path) if n.startswith(XATTR_PREFIX)]
        return {n[len(XATTR_PREFIX) :]: os.getxattr(fd_or_path, n).decode() for n in names}
    except OSError:
        return {}  # a filesystem without user xattrs keeps no metadata


def write_metadata(fd: int, metadata: MetadataSource | None) -> None:
    """Set metadata on the temp file, so it is published atomically with the bytes."""
    if metadata is None:
        return
    for name, value in metadata().items():
        try:
            os.setxattr(fd, XATTR_PREFIX + name, value.encode())
        except OSError as exc:
            if exc.errno in _NO_XATTR:
                return
            raise


def write_fully(fd: int, block: bytes | memoryview) -> None:
    view = memoryview(block)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


def copy_pieces(fd: int, pieces: list[tuple[str, Piece]], digest: Hasher) -> None:
    """Write the pieces (with the file of each stored one) to fd, hashing as they pass: one
    read and one write per block, all in this thread (hashlib releases the GIL)."""
    view = memoryview(bytearray(COPY_BLOCK))
    for path, piece in pieces:
        if path:
            _copy_range(fd, path, piece.start, piece.length, view, digest)
            continue
        block = piece.data or piece.fill * min(piece.length, COPY_BLOCK)
        left = piece.size
        while left > 0:
            part = block[:left]
            digest.update(part)
            write_fully(fd, part)
            left -= len(part)


def _copy_range(
    fd: int, path: str, start: int, length: int, view: memoryview, digest: Hasher
) -> None:
    source, _ = open_and_stat(path)
    try:
        end = start + length
        while start < end:
            got = os.preadv(source, [view[: min(len(view), end - start)]], start)
            if got <= 0:
                raise StorageError(f"{os.path.basename(path)} is shorter than planned")
            digest.update(view[:got])
            write_fully(fd, view[:got])
            start += got
    finally:
        os.close(source)


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@dataclass
class Opened:
    fd: int | None  # None when the whole range was read (the file is closed again)
    stat: os.stat_result
    metadata: dict[str, str]
    prefetched: bytes


def open_range(
    path: str, start: int, end: int | None, small: int, cached_only: bool = False
) -> Opened:
    """Open, stat and read metadata in one thread hop; a range of at most `small` bytes is read
    in the same hop (the common seek-sized request costs a single hop).

    With `cached_only` (for calling from the event loop) the read takes only what the page cache
    holds (RWF_NOWAIT) and leaves the rest, with the file open, to worker threads."""
    fd, st = open_and_stat(path)
    try:
        last = st.st_size - 1 if end is None else min(end, st.st_size - 1)
        metadata = read_metadata(fd)
        if last - start + 1 > small:
            return Opened(fd, st, metadata, b"")
        want = max(0, last - start + 1)
        data = _read_cached(fd, want, start) if cached_only else os.pread(fd, want, start)
    except BaseException:
        os.close(fd)
        raise
    if len(data) < want:
        return Opened(fd, st, metadata, data)
    os.close(fd)
    return Opened(None, st, metadata, data)


def _read_cached(fd: int, want: int, offset: int) -> bytes:
    if not want:
        return b""
    buffer = bytearray(want)
    try:
        got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except BlockingIOError:
        return b""
    return bytes(memoryview(buffer)[:got])


def entries(directory: str) -> list[tuple[str, bool]]:
    """(name, is a directory) of the visible entries of directory; none if it is missing."""
    try:
        with os.scandir(directory) as found:
            return [(e.name, e.is_dir()) for e in found if not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def open_and_stat(path: str) -> tuple[int, os.stat_result]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise


def subdirectories(directory: str) -> list[str]:
    with os.scandir(directory) as entries:
        names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
    return sorted(names)


def stat_with_metadata(path: str) -> tuple[os.stat_result, dict[str, str]]:
    st = os.stat(path, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):  # objects are never symlinks: do not follow one out
        raise FileNotFoundError(errno.ENOENT, "not an object", path)
    return st, read_metadata(path)


def walk_files(base: str) -> Iterator[str]:
    for directory, subdirs, files in os.walk(base):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                yield os.path.join(directory, name)


@contextlib.contextmanager
def dir_lock(directory: str) -> Iterator[None]:
    """An exclusive lock per directory (flock), held across processes sharing the disk."""
    fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_stale(root: str, prefix: str, before: datetime) -> int:
    """Remove files named prefix* under root not modified since `before`; return how many."""
    limit = before.timestamp()
    removed = 0
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):
                if name.startswith(prefix) and os.stat(path).st_mtime < limit:
                    os.unlink(path)
                    removed += 1
    return removed
