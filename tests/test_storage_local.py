"""The local backend: crash safety, publish order, a full disk, containment, tidy directories."""

from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lite.storage.base import InsufficientStorage, NotFound, Piece, StorageError, iter_bytes
from lite.storage.local import LocalStorage
from tests.servers import ROOT

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
KEY = "recordings/1/2/session.wav"
STRACE = "/usr/bin/strace"


def raw_files(root: Path) -> list[str]:
    """Every file under root, dot-files included, relative to root."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


async def read(storage: LocalStorage, key: str) -> bytes:
    reader = await storage.open_range(key)
    try:
        return b"".join([chunk async for chunk in reader])
    finally:
        await reader.aclose()


async def keys_of(storage: LocalStorage, prefix: str = "") -> list[str]:
    return [info.key async for info in storage.list(prefix)]


# --- a writer killed mid-put ----------------------------------------------------------------------

SLOW_WRITER = textwrap.dedent(
    """
    import sys
    import anyio
    from lite.storage.local import LocalStorage

    async def slow():
        yield b"n" * (1024 * 1024)  # one whole write buffer: on disk before the next piece
        yield b"n"
        print("started", flush=True)
        await anyio.sleep(60)
        yield b"never"

    anyio.run(LocalStorage(sys.argv[1]).put, sys.argv[2], slow())
    """
)


def wait_for_line(process: subprocess.Popen[str], expected: str, timeout: float = 20) -> None:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"the writer never printed {expected!r}"
    assert process.stdout.readline().strip() == expected


def kill_mid_put(root: Path, key: str) -> None:
    """Start a writer process, wait until its temp file holds data, SIGKILL it."""
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(root), key],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        wait_for_line(writer, "started")
        temps = [name for name in raw_files(root) if ".tmp-" in name]
        assert len(temps) == 1, "the writer should be mid-put, its temp file on disk"
        assert (root / temps[0]).stat().st_size >= MIB
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        assert writer.stdout is not None
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL


@pytest.mark.parametrize("previous", [None, b"the old complete object"], ids=["new", "replace"])
async def test_a_writer_killed_mid_put_leaves_the_old_object_or_none(
    tmp_path: Path, previous: bytes | None
) -> None:
    storage = LocalStorage(str(tmp_path))
    if previous is not None:
        await storage.put(KEY, iter_bytes(previous))
    kill_mid_put(tmp_path, KEY)
    if previous is None:
        with pytest.raises(NotFound):
            await storage.stat(KEY)
        assert await keys_of(storage) == []
    else:
        assert await read(storage, KEY) == previous
        assert await keys_of(storage) == [KEY]
    await storage.put(KEY, iter_bytes(b"after the crash"))
    assert await read(storage, KEY) == b"after the crash"
    assert await keys_of(storage) == [KEY]


# --- publish order, seen by strace ----------------------------------------------------------------

TRACED = textwrap.dedent(
    """
    import os, sys
    import anyio
    from lite.storage.base import Piece, iter_bytes
    from lite.storage.local import LocalStorage

    root, fsync = sys.argv[1], sys.argv[2] == "on"

    def mark(name):  # a rename strace shows, to cut the trace into steps
        path = os.path.join(root, ".mark")
        open(path, "w").close()
        os.rename(path, path + "-" + name)

    async def main():
        storage = LocalStorage(root, fsync=fsync)
        await storage.put("d/cas.wav", iter_bytes(b"v1"))
        etag = (await storage.stat("d/cas.wav")).etag
        mark("put")
        await storage.put("d/put.wav", iter_bytes(b"replace"))
        mark("put_if_absent")
        await storage.put_if_absent("d/new.wav", iter_bytes(b"create"))
        mark("put_if_match")
        await storage.put_if_match("d/cas.wav", iter_bytes(b"v2"), etag)
        mark("compose")
        await storage.compose("d/joined.wav", [Piece(key="d/put.wav", start=1, length=3)])
        mark("end")

    anyio.run(main)
    """
)
SYSCALLS = "fsync,fdatasync,rename,renameat,renameat2,link,linkat,openat"
_CALL = re.compile(r"^\d+\s+(\w+)\((.*)$")


def strace_put(root: Path, fsync: bool) -> dict[str, list[tuple[str, str]]]:
    """Run TRACED under strace; return {step: [(syscall, arguments)]} in the order they began."""
    if not os.access(STRACE, os.X_OK):
        pytest.skip(f"{STRACE} is not installed (Debian package strace)")
    out = root.parent / f"strace-{'on' if fsync else 'off'}.txt"
    args = [STRACE, "-f", "-y", "-qq", "-e", "signal=none", "-e", f"trace={SYSCALLS}", "-o"]
    done = subprocess.run(
        [*args, str(out), sys.executable, "-c", TRACED, str(root), "on" if fsync else "off"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0 and "ptrace" in done.stderr.lower():
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    steps: dict[str, list[tuple[str, str]]] = {"setup": []}
    current = "setup"
    for line in out.read_text().splitlines():
        match = _CALL.match(line)
        if not match:
            continue  # "<... resumed>" halves: the start line already placed the call
        name, rest = match.groups()
        marker = re.search(r"\.mark-(\w+)\"", rest)
        if name.startswith("rename") and marker:
            current = marker.group(1)
            steps[current] = []
        else:
            steps[current].append((name, rest))
    return steps


@pytest.fixture(scope="module")
def traced_on(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    root = tmp_path_factory.mktemp("traced") / "root"
    root.mkdir()
    return strace_put(root, fsync=True)


def position(calls: list[tuple[str, str]], names: tuple[str, ...], pattern: str) -> int:
    for index, (name, rest) in enumerate(calls):
        if name in names and re.search(pattern, rest):
            return index
    raise AssertionError(f"no {names} matching {pattern!r} in {calls}")


@pytest.mark.parametrize(
    ("step", "target", "publish"),
    [
        ("put", "put.wav", ("rename", "renameat", "renameat2")),
        ("put_if_absent", "new.wav", ("link", "linkat")),
        ("put_if_match", "cas.wav", ("rename", "renameat", "renameat2")),
        ("compose", "joined.wav", ("rename", "renameat", "renameat2")),
    ],
)
def test_a_put_fsyncs_the_file_then_publishes_then_fsyncs_the_directory(
    traced_on: dict[str, list[tuple[str, str]]], step: str, target: str, publish: tuple[str, ...]
) -> None:
    calls = traced_on[step]
    temp = rf"/d/\.tmp-{re.escape(target)}-\w+"
    synced_file = position(calls, ("fsync", "fdatasync"), rf"^\d+<[^>]*{temp}>")
    published = position(calls, publish, rf'{temp}".*"[^"]*/d/{re.escape(target)}"')
    after = calls[published + 1 :]
    synced_dir = published + 1 + position(after, ("fsync",), r"^\d+<[^>]*/d>\)")
    assert synced_file < published < synced_dir


def test_with_fsync_off_nothing_is_fsynced(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    steps = strace_put(root, fsync=False)
    assert set(steps) == {"setup", "put", "put_if_absent", "put_if_match", "compose", "end"}
    renames = [call for call in steps["put"] if call[0].startswith("rename")]
    assert renames, "the trace should show the publish"
    synced = [call for calls in steps.values() for call in calls if "sync" in call[0]]
    assert synced == []


# --- compose (the master of a finalize) ----------------------------------------------------------


async def test_compose_joins_literals_fills_and_ranges_with_their_digest(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path / "root"), fsync=True)
    big = os.urandom(3 * MIB + 5)  # more than one copy block
    await storage.put("r/a.wav", iter_bytes(big))
    await storage.put("r/b.wav", iter_bytes(b"0123456789"))
    pieces = [
        Piece(data=b"HEAD"),
        Piece(key="r/a.wav", start=7, length=len(big) - 7),
        Piece(fill=b"\x80", length=MIB + 3),
        Piece(key="r/b.wav", start=2, length=5),
        Piece(data=b""),
    ]
    info, digest = await storage.compose("r/master.wav", pieces)
    expected = b"HEAD" + big[7:] + b"\x80" * (MIB + 3) + b"23456"
    assert await read(storage, "r/master.wav") == expected
    assert digest == hashlib.sha256(expected).hexdigest()
    assert info.size == len(expected)
    assert (await storage.stat("r/master.wav")).metadata.get("sha256") in (digest, None)


async def test_compose_from_a_missing_or_short_object_stores_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    storage = LocalStorage(str(root), fsync=True)
    await storage.put("r/old.wav", iter_bytes(b"old"))
    await storage.put("r/b.wav", iter_bytes(b"0123456789"))
    with pytest.raises(NotFound):
        await storage.compose("r/old.wav", [Piece(key="r/gone.wav", start=0, length=4)])
    with pytest.raises(StorageError):
        await storage.compose("r/old.wav", [Piece(key="r/b.wav", start=4, length=20)])
    assert await read(storage, "r/old.wav") == b"old"
    assert raw_files(root) == ["r/b.wav", "r/old.wav"]


# --- a full disk ----------------------------------------------------------------------------------


def mount_tmpfs(mount_point: Path, options: str) -> Iterator[Path]:
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {mounted.stderr.strip()[:200]}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path / "ro", "size=1m,ro")


async def two_mib() -> AsyncIterator[bytes]:
    for _ in range(8):
        yield b"z" * (256 * 1024)


async def test_a_full_disk_is_insufficient_storage_and_leaves_nothing(tiny_disk: Path) -> None:
    storage = LocalStorage(str(tiny_disk))
    with pytest.raises(InsufficientStorage):
        await storage.put(KEY, two_mib())
    with pytest.raises(InsufficientStorage):
        await storage.put_if_absent(KEY, two_mib())
    assert raw_files(tiny_disk) == []
    with pytest.raises(NotFound):
        await storage.stat(KEY)
    await storage.put(KEY, iter_bytes(b"small fits"))  # the space came back
    assert await read(storage, KEY) == b"small fits"


async def test_a_full_disk_during_a_replace_keeps_the_old_object(tiny_disk: Path) -> None:
    storage = LocalStorage(str(tiny_disk))
    await storage.put(KEY, iter_bytes(b"old"))
    with pytest.raises(InsufficientStorage):
        await storage.put(KEY, two_mib())
    assert await read(storage, KEY) == b"old"
    assert raw_files(tiny_disk) == [KEY]


# --- root containment -----------------------------------------------------------------------------

ESCAPES = [
    "..",
    "../outside.wav",
    "recordings/../../outside.wav",
    "recordings/1/../2/a.wav",
    "/etc/passwd",
    "recordings//a.wav",
    "recordings/a.wav/",
    "./recordings/a.wav",
    "recordings/./a.wav",
    "recordings/.tmp-a.wav-123",
    ".lock",
    "recordings/.hidden/a.wav",
    "",
]


@pytest.mark.parametrize("key", ESCAPES)
def test_path_of_rejects_keys_outside_the_plain_shape(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError):
        LocalStorage(str(tmp_path / "root")).path_of(key)


@pytest.mark.parametrize("key", ["../outside.wav", "/etc/passwd", "a/.tmp-x"])
async def test_no_operation_reaches_outside_the_root(tmp_path: Path, key: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"not yours")
    storage = LocalStorage(str(root))
    with pytest.raises(StorageError):
        await storage.put(key, iter_bytes(b"overwrite"))
    with pytest.raises(StorageError):
        await storage.stat(key)
    with pytest.raises(StorageError):
        await storage.open_range(key)
    with pytest.raises(StorageError):
        await storage.delete(key)
    assert outside.read_bytes() == b"not yours"
    assert raw_files(root) == []


async def test_a_symlinked_directory_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.wav").write_bytes(b"private")
    (root / "recordings").symlink_to(elsewhere, target_is_directory=True)
    storage = LocalStorage(str(root))
    with pytest.raises(StorageError):
        storage.path_of("recordings/a.wav")
    with pytest.raises(StorageError):
        await storage.open_range("recordings/a.wav")
    with pytest.raises(StorageError):
        await storage.put("recordings/b.wav", iter_bytes(b"planted"))
    with pytest.raises(StorageError):
        await storage.delete("recordings/a.wav")
    assert sorted(os.listdir(elsewhere)) == ["a.wav"]
    assert (elsewhere / "a.wav").read_bytes() == b"private"


async def test_a_symlinked_file_escaping_the_root_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "recordings").mkdir(parents=True)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"private")
    (root / "recordings" / "a.wav").symlink_to(secret)
    storage = LocalStorage(str(root))
    with pytest.raises(StorageError):
        await storage.stat("recordings/a.wav")
    with pytest.raises(StorageError):
        await storage.open_range("recordings/a.wav")


async def test_a_symlink_inside_the_root_still_resolves(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.wav").write_bytes(b"inside")
    (root / "recordings").symlink_to(root / "data", target_is_directory=True)
    storage = LocalStorage(str(root))
    assert await read(storage, "recordings/a.wav") == b"inside"


# --- listing and tidiness -------------------------------------------------------------------------


async def test_listing_ignores_temp_lock_and_hidden_files(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    await storage.put(KEY, iter_bytes(b"real"))
    info = await storage.stat(KEY)
    await storage.put_if_match(KEY, iter_bytes(b"real2"), info.etag)  # leaves a .lock
    directory = tmp_path / "recordings" / "1" / "2"
    (directory / ".tmp-session.wav-abc123").write_bytes(b"torn")
    (directory / ".hidden").mkdir()
    (directory / ".hidden" / "inner.wav").write_bytes(b"x")
    assert ".lock" in os.listdir(directory)
    assert await keys_of(storage) == [KEY]
    assert await keys_of(storage, "recordings/1/2/") == [KEY]
    assert await keys_of(storage, "recordings/1/2/.") == []


async def test_deleting_the_last_object_prunes_empty_directories(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    chunk = "recordings/1/2/session/audio/chunks/0000000000.wav"
    master = "recordings/1/2/session.wav"
    await storage.put(chunk, iter_bytes(b"c"))
    await storage.put(master, iter_bytes(b"m"))
    info = await storage.stat(master)
    await storage.put_if_match(master, iter_bytes(b"m2"), info.etag)  # leaves a .lock
    await storage.delete(chunk)
    assert os.listdir(tmp_path / "recordings" / "1" / "2") != []
    assert not (tmp_path / "recordings" / "1" / "2" / "session").exists()
    await storage.delete(master)
    assert os.listdir(tmp_path) == []


async def test_check_writable_leaves_the_directory_empty(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path))
    await storage.check_writable()
    assert os.listdir(tmp_path) == []


async def test_check_writable_on_a_read_only_disk_is_a_storage_error(
    read_only_disk: Path,
) -> None:
    with pytest.raises(StorageError):
        await LocalStorage(str(read_only_disk)).check_writable()


async def test_a_failed_stream_leaves_no_temp_file(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (2 * MIB)
        raise RuntimeError("gone")

    storage = LocalStorage(str(tmp_path))
    with pytest.raises(RuntimeError):
        await storage.put(KEY, broken())
    assert raw_files(tmp_path) == []


async def test_fsync_off_still_stores_the_bytes(tmp_path: Path) -> None:
    storage = LocalStorage(str(tmp_path), fsync=False)
    await storage.put(KEY, iter_bytes(b"fast"))
    assert await read(storage, KEY) == b"fast"


# --- reads from the page cache and from disk ------------------------------------------------------


async def _ranged(storage: LocalStorage, key: str, start: int, end: int) -> bytes:
    reader = await storage.open_range(key, start, end)
    try:
        return b"".join([block async for block in reader])
    finally:
        await reader.aclose()


def _evict(path: str) -> None:
    """Drop the file's clean pages, so a read must go to the disk (RWF_NOWAIT cannot serve it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize("inline", [True, False], ids=["event-loop-first", "threads-only"])
@pytest.mark.parametrize(("start", "end"), [(0, 0), (1000, 66535), (0, 524287), (524000, 524287)])
async def test_ranges_are_exact_whether_cached_or_not(
    tmp_path: Path, inline: bool, start: int, end: int
) -> None:
    storage = LocalStorage(str(tmp_path))
    storage._inline_reads = inline and storage._inline_reads
    payload = os.urandom(512 * 1024)
    await storage.put("a/b.wav", iter_bytes(payload))
    assert await _ranged(storage, "a/b.wav", start, end) == payload[start : end + 1]  # cached
    _evict(storage.path_of("a/b.wav"))
    assert await _ranged(storage, "a/b.wav", start, end) == payload[start : end + 1]  # from disk


def test_two_processes_deleting_the_last_objects_of_a_directory_race_without_errors(
    tmp_path: Path,
) -> None:
    """Two replicas each delete one of a directory's last two objects at the same instant: one
    prunes the directory while the other still lists or fsyncs it (a retention pass once failed
    with FileNotFoundError on `_system/leases`)."""
    import threading

    store = LocalStorage(str(tmp_path / "store"), fsync=True)
    errors: list[BaseException] = []
    for round_ in range(150):
        paths = [store.path_of(f"_system/leases/r{round_}/x/{name}") for name in ("a", "b")]
        for path in paths:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Path(path).write_bytes(b"lease")
        start = threading.Barrier(2)

        def delete(path: str, start: threading.Barrier) -> None:
            start.wait()
            try:
                store._tree.delete_path(path)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=delete, args=(p, start)) for p in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not any(os.path.exists(p) for p in paths)
    assert errors == []
    assert not os.path.exists(store.path_of("_system/leases/r0"))
