"""Storing one chunk object: its format checked, written create-if-absent, a damaged copy
replaced, the same seq in another format refused (docs/architecture.md, The life of a chunk)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass

from lite import keys, sniff
from lite.chunks import SHA256, GuardedBody, content_digest, sha256_of
from lite.errors import AlreadyExists, Conflict, NotFound, PreconditionFailed, Unavailable
from lite.manifest import SessionIndex
from lite.storage.base import ConditionalWriter, Storage

log = logging.getLogger("lite.ingest")
_REPLACE_ATTEMPTS = 3


@dataclass(frozen=True)
class ChunkIn:
    session_uid: str
    media_type: str
    seq: int
    ext: str
    body: AsyncIterable[bytes]
    declared_sha256: str | None = None
    is_final: bool = False


async def sniffed(chunk: ChunkIn) -> ChunkIn:
    """415 for a chunk whose bytes are not its declared format, before anything is created.
    WebM chunks after the first continue the stream and carry no header to check."""
    if chunk.seq > 0 and chunk.ext != "wav":
        return chunk
    head, body = await sniff.peek(chunk.body)
    sniff.check(chunk.ext, head)
    return dataclasses.replace(chunk, body=body)


class ChunkStore:
    def __init__(self, storage: Storage) -> None:
        assert isinstance(storage, ConditionalWriter)
        self.storage = storage
        self.writer: ConditionalWriter = storage

    async def store(self, key: str, body: GuardedBody) -> bool:
        """Store the chunk once; True when these exact bytes were already stored.

        A stored object counts only when its size and the digest of its bytes match: one left
        damaged by an outage or a crash (empty, cut short, its metadata claiming the real
        digest) is replaced by this body, never answered as a duplicate."""
        try:
            await self.writer.put_if_absent(key, body, body.metadata)
            return False
        except AlreadyExists:
            if not body.complete:
                raise
        for _ in range(_REPLACE_ATTEMPTS):
            try:
                stored, info = await content_digest(self.storage, key)
            except NotFound:  # removed meanwhile (the recording was deleted): store ours
                return await self._store_again(key, body, None)
            if info.size == body.size and stored == body.sha256:
                return True
            # Intact when the bytes match the digest written with them (multipart objects carry
            # none, but complete atomically): then it is another chunk's bytes.
            if info.metadata.get(SHA256, stored) == stored:
                raise Conflict(
                    "a different chunk is stored under this seq",
                    stored_sha256=stored,
                    received_sha256=body.sha256,
                )
            log.warning("replacing a damaged chunk object %s (%d bytes)", key, info.size)
            try:
                return await self._store_again(key, body, info.etag)
            except PreconditionFailed:
                continue  # replaced by someone else meanwhile: look again
        raise Conflict("the chunk is being written by others; retry")

    async def _store_again(self, key: str, body: GuardedBody, etag: str | None) -> bool:
        data = body.retained()
        if data is None:
            raise Unavailable("a damaged copy of this chunk is stored; send it again later")
        if etag is None:
            try:
                await self.writer.put_if_absent(key, data, body.metadata)
            except AlreadyExists:
                raise PreconditionFailed(f"{key} appeared meanwhile") from None
        else:
            await self.writer.put_if_match(key, data, etag, body.metadata)
        return False

    async def refuse_other_format(self, index: SessionIndex, chunk: ChunkIn, key: str) -> None:
        """A seq is one chunk: the same seq in another format is a conflict, not a second chunk
        (the format is part of the key, so create-if-absent alone cannot see it)."""
        prefix = keys.chunk_prefix(
            index.user_id, index.recording_id, chunk.session_uid, chunk.media_type
        )
        async for info in self.storage.list(f"{prefix}{chunk.seq:010d}."):
            if info.key != key:
                await self.storage.delete(key)
                raise Conflict(
                    f"seq {chunk.seq} is already stored as {info.key.rsplit('.', 1)[1]}",
                    stored_sha256=await sha256_of(self.storage, info.key),
                )
