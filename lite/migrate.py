"""Copy a whole store to another backend (local disk → S3 and back), verified and resumable.

Every object is copied with its metadata, and the copy is read back and its sha256 compared with
the bytes read from the source. An object already on the target with the same digest is skipped,
so an interrupted run resumes where it stopped and copies nothing twice. Recording manifests name
backend etags (the master's and the chunks' fingerprint), which differ on another backend: they are
rewritten for the target after the objects they describe are there. Passes repeat until one copies
nothing, so objects written meanwhile (the server keeps running on the source) are picked up.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from lite import keys
from lite.chunks import ChunkObject, content_digest, fingerprint
from lite.errors import NotFound, StorageError
from lite.manifest import Manifest
from lite.storage.base import ObjectInfo, Storage, iter_bytes, read_all

SHA256 = "sha256"
MAX_PASSES = 5
WORKERS = 16


def is_manifest(key: str) -> bool:
    return key.startswith(keys.RECORDINGS_PREFIX) and key.endswith("/recording.json")


@dataclass
class Tally:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    passes: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "copied": self.copied,
            "copied_bytes": self.copied_bytes,
            "skipped": self.skipped,
            "skipped_bytes": self.skipped_bytes,
            "passes": self.passes,
            "problems": self.problems,
        }


@dataclass
class Events:
    """What the command line shows: planned totals, each object done, each pass started."""

    planned: Callable[[int, int], None] = lambda count, size: None
    done: Callable[[str, str, int], None] = lambda key, action, size: None  # copied/skipped/...


class Migration:
    def __init__(
        self, source: Storage, target: Storage, dry_run: bool = False, events: Events | None = None
    ) -> None:
        self.source = source
        self.target = target
        self.dry_run = dry_run
        self.events = events or Events()
        self.tally = Tally()
        # key → (source etag, size) known to be on the target: later passes skip these unread.
        self._done: dict[str, tuple[str, int]] = {}

    async def run(self) -> Tally:
        """Passes until one finds nothing to copy (a dry run makes one)."""
        for _ in range(1 if self.dry_run else MAX_PASSES):
            self.tally.passes += 1
            if not await self.one_pass():
                break
        return self.tally

    async def one_pass(self) -> int:
        """Copy what differs; manifests last. Returns how many objects were (or would be) copied."""
        found = [info async for info in self.source.list("")]
        fresh = [info for info in found if self._done.get(info.key) != (info.etag, info.size)]
        self.events.planned(len(fresh), sum(info.size for info in fresh))
        there = await _listing(self.target)
        before = self.tally.copied
        await self._each([i for i in fresh if not is_manifest(i.key)], self._object, there)
        manifests = [i for i in fresh if is_manifest(i.key)]
        if manifests:
            await self._each(manifests, self._manifest, await _listing(self.target))
        return self.tally.copied - before

    async def _each(
        self,
        infos: list[ObjectInfo],
        work: Callable[[ObjectInfo, dict[str, ObjectInfo]], Awaitable[None]],
        there: dict[str, ObjectInfo],
    ) -> None:
        limiter = anyio.CapacityLimiter(WORKERS)

        async def guarded(info: ObjectInfo) -> None:
            async with limiter:
                try:
                    await work(info, there)
                except NotFound:
                    self.events.done(info.key, "vanished", 0)  # deleted on the source meanwhile

        async with anyio.create_task_group() as group:
            for info in infos:
                group.start_soon(guarded, info)

    async def _object(self, info: ObjectInfo, there: dict[str, ObjectInfo]) -> None:
        existing = there.get(info.key)
        if (
            existing is not None
            and existing.size == info.size
            and await _digest(self.source, info.key) == await _digest(self.target, info.key)
        ):
            self._skip(info)
            return
        if self.dry_run:
            self._count(info, info.size, "would copy")
            return
        reader = await self.source.open_range(info.key)
        metadata = dict(reader.info.metadata)  # the recorded sha256 travels with the object
        streamed = hashlib.sha256()

        async def body() -> AsyncIterator[bytes]:
            try:
                async for block in reader:
                    streamed.update(block)
                    yield block
            finally:
                await reader.aclose()

        await self.target.put(info.key, body(), lambda: metadata)
        await self._check_copy(info.key, streamed.hexdigest(), metadata.get(SHA256))
        self._count(info, info.size, "copied")

    async def _check_copy(self, key: str, streamed: str, recorded: str | None) -> None:
        copied, _ = await content_digest(self.target, key)
        if copied != streamed:
            raise StorageError(f"the copy of {key} does not match the source (sha256 {copied})")
        if recorded and recorded != streamed:
            self.tally.problems.append(
                f"{key}: the source's bytes do not match its recorded sha256 (copied as they are;"
                " run `vexa-lite verify` on the source)"
            )

    async def _manifest(self, info: ObjectInfo, there: dict[str, ObjectInfo]) -> None:
        rewritten = for_target(await read_all(self.source, info.key), there)
        if info.key in there and await read_all(self.target, info.key) == rewritten:
            self._skip(info)
            return
        if self.dry_run:
            self._count(info, len(rewritten), "would copy")
            return
        await self.target.put(info.key, iter_bytes(rewritten))
        if await read_all(self.target, info.key) != rewritten:
            raise StorageError(f"the copy of {info.key} does not match what was written")
        self._count(info, len(rewritten), "copied")

    def _skip(self, info: ObjectInfo) -> None:
        self._done[info.key] = (info.etag, info.size)
        self.tally.skipped += 1
        self.tally.skipped_bytes += info.size
        self.events.done(info.key, "skipped", info.size)

    def _count(self, info: ObjectInfo, size: int, action: str) -> None:
        if not self.dry_run:
            self._done[info.key] = (info.etag, info.size)
        self.tally.copied += 1
        self.tally.copied_bytes += size
        self.events.done(info.key, action, size)


def for_target(payload: bytes, there: dict[str, ObjectInfo]) -> bytes:
    """The manifest with the etags of the target's master and chunks (from its listing)."""
    manifest = Manifest.from_json(payload)
    user, rec, uid = manifest.user_id, manifest.id, manifest.session_uid
    for state in manifest.media.values():
        if state.master_etag and state.format:
            master = there.get(keys.master_key(user, rec, uid, state.media_type, state.format))
            if master is not None:  # else not copied: verify reports it
                state.master_etag = master.etag
        if state.fingerprint:
            prefix = keys.chunk_prefix(user, rec, uid, state.media_type)
            chunks = []
            for key, info in there.items():
                parsed = (
                    keys.parse_chunk_name(key[len(prefix) :]) if key.startswith(prefix) else None
                )
                if parsed is not None:
                    chunks.append(ChunkObject(parsed[0], parsed[1], info))
            chunks.sort(key=lambda c: (c.seq, c.ext))
            state.fingerprint = fingerprint(chunks)
    return manifest.to_json()


async def _listing(storage: Storage) -> dict[str, ObjectInfo]:
    return {info.key: info async for info in storage.list("")}


async def _digest(storage: Storage, key: str) -> str:
    """The recorded sha256, else one computed from the bytes."""
    info = await storage.stat(key)
    return info.metadata.get(SHA256) or (await content_digest(storage, key))[0]


def summary_line(tally: Tally, dry_run: bool) -> str:
    verb = "would copy" if dry_run else "copied"
    return (
        f"{verb} {tally.copied} objects ({tally.copied_bytes} bytes), skipped {tally.skipped} "
        f"already there ({tally.skipped_bytes} bytes) in {tally.passes} pass(es)"
    )
