"""Staged chunks: what the server holds is read from the chunk objects, never from counters."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping
from dataclasses import dataclass

from lite import keys
from lite.errors import ChecksumMismatch, PayloadTooLarge
from lite.storage.base import ObjectInfo, Storage

SHA256 = "sha256"
MISSING_LIMIT = 1000  # missing seqs listed per media file; the count says how many in all
# A body up to this size is kept in memory while it streams, so a damaged copy found under its
# key can be replaced without asking the client again.
RETAIN_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class ChunkObject:
    seq: int
    ext: str
    info: ObjectInfo


async def list_chunks(
    storage: Storage, user_id: int, recording_id: int, session_uid: str, media_type: str
) -> list[ChunkObject]:
    prefix = keys.chunk_prefix(user_id, recording_id, session_uid, media_type)
    found = []
    async for info in storage.list(prefix):
        parsed = keys.parse_chunk_name(info.key[len(prefix) :])
        if parsed is not None:
            found.append(ChunkObject(parsed[0], parsed[1], info))
    found.sort(key=lambda c: (c.seq, c.ext))
    return found


async def walk_media(
    storage: Storage,
    user_id: int,
    recording_id: int,
    session_uid: str,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
) -> dict[str, list[ChunkObject]]:
    """Each media type of a session with its chunk objects, in media type order: the one walk
    behind live playback, session status, live media and finalize. `only` names the media types
    (no listing of types); `skip` leaves types out before their chunks are listed."""
    kinds = (
        only if only is not None else await media_types(storage, user_id, recording_id, session_uid)
    )
    walked: dict[str, list[ChunkObject]] = {}
    for kind in sorted(set(kinds) - set(skip)):
        walked[kind] = await list_chunks(storage, user_id, recording_id, session_uid, kind)
    return walked


async def media_types(
    storage: Storage, user_id: int, recording_id: int, session_uid: str
) -> list[str]:
    prefix = keys.recording_prefix(user_id, recording_id) + keys.check_token(
        session_uid, "session_uid"
    )
    return await storage.list_children(prefix + "/")


async def sha256_of(storage: Storage, key: str) -> str:
    """The stored digest, or one computed from the bytes (multipart puts carry none)."""
    info = await storage.stat(key)
    known = info.metadata.get(SHA256)
    if known:
        return known
    return (await content_digest(storage, key))[0]


async def content_digest(storage: Storage, key: str) -> tuple[str, ObjectInfo]:
    """The sha256 of the bytes actually stored (never the metadata's claim), and the object."""
    digest = hashlib.sha256()
    reader = await storage.open_range(key)
    try:
        async for block in reader:
            digest.update(block)
    finally:
        await reader.aclose()
    return digest.hexdigest(), reader.info


def fingerprint(chunks: list[ChunkObject]) -> str:
    """Identifies a set of chunk objects: changes when any chunk is added or replaced."""
    text = ";".join(f"{c.seq}.{c.ext}:{c.info.etag}:{c.info.size}" for c in chunks)
    return hashlib.sha256(text.encode()).hexdigest()


def missing_seqs(
    chunks: list[ChunkObject], final_seq: int | None, limit: int = MISSING_LIMIT
) -> list[int]:
    """The first `limit` seqs missing below the last one (or the final one). Walks the gaps
    between present seqs, so a chunk at seq 10^10 costs no more than one at seq 10."""
    present = sorted({c.seq for c in chunks})
    last = max(present[-1] if present else -1, -1 if final_seq is None else final_seq)
    found: list[int] = []
    expected = 0
    for seq in [*present, last + 1]:
        if seq > last + 1:
            break
        while expected < seq and len(found) < limit:
            found.append(expected)
            expected += 1
        if len(found) >= limit:
            break
        expected = seq + 1
    return found


def missing_count(chunks: list[ChunkObject], final_seq: int | None) -> int:
    """How many seqs are missing below the last one (the list above may be cut short)."""
    present = {c.seq for c in chunks}
    last = max(max(present, default=-1), -1 if final_seq is None else final_seq)
    return last + 1 - len(present)


class GuardedBody:
    """A request body on its way to storage: size limit, sha256, optional declared digest.

    It raises inside the stream, so a backend's put discards the partial object.
    `read_ahead` checks a small body whole before anything is created for it.
    """

    def __init__(self, body: AsyncIterable[bytes], limit: int, declared: str | None) -> None:
        self._source = aiter(body)
        self._limit = limit
        self._declared = declared.lower() if declared else None
        self._digest = hashlib.sha256()
        self._kept: list[bytes] | None = []
        self._ahead: list[bytes] = []
        self._ended = False
        self.size = 0
        self.complete = False

    async def read_ahead(self, limit: int = RETAIN_LIMIT) -> None:
        """Read (and check) up to `limit` bytes now; raises as iterating would."""
        while self.size <= limit:
            try:
                block = await anext(self._source)
            except StopAsyncIteration:
                self._ended = True
                self._finish()
                return
            self._take(block)
            self._ahead.append(block)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        ahead, self._ahead = self._ahead, []
        for block in ahead:
            yield block
        if self._ended:
            return
        async for block in self._source:
            self._take(block)
            yield block
        self._finish()

    def _take(self, block: bytes) -> None:
        self.size += len(block)
        if self.size > self._limit:
            raise PayloadTooLarge(f"chunk larger than {self._limit} bytes")
        self._digest.update(block)
        if self._kept is not None:
            if self.size > RETAIN_LIMIT:
                self._kept = None
            else:
                self._kept.append(block)

    def _finish(self) -> None:
        if self._declared is not None and self._declared != self.sha256:
            raise ChecksumMismatch(
                "X-Content-SHA256 does not match the body", computed_sha256=self.sha256
            )
        self.complete = True

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def retained(self) -> AsyncIterator[bytes] | None:
        """The whole body again, when it was small enough to keep; else None."""
        if not self.complete or self._kept is None:
            return None
        return _replay(self._kept)

    def metadata(self) -> Mapping[str, str]:
        return {SHA256: self.sha256}


async def _replay(blocks: list[bytes]) -> AsyncIterator[bytes]:
    for block in blocks:
        yield block
