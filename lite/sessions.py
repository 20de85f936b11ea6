"""A recorder's view of its session: which chunks the server holds, and finalize on request."""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from lite import keys
from lite.catalog import Catalog
from lite.chunks import ChunkObject, missing_seqs, sha256_of, walk_media
from lite.errors import ResourceNotFound
from lite.ingest import IngestService, Uploader
from lite.manifest import SessionIndex
from lite.recordings import Recordings, RecordingView
from lite.storage.base import Storage

_STAT_CONCURRENCY = 16


@dataclass(frozen=True)
class StoredChunk:
    seq: int
    size: int
    sha256: str


@dataclass(frozen=True)
class MediaProgress:
    chunks: list[StoredChunk]
    missing: list[int]
    final_seq: int | None
    compacted: bool | None = None  # None: no manifest entry for this media type yet


@dataclass(frozen=True)
class SessionStatus:
    session_uid: str
    recording_id: int
    status: str
    media: dict[str, MediaProgress]


class Sessions:
    def __init__(
        self, storage: Storage, catalog: Catalog, ingest: IngestService, recordings: Recordings
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.ingest = ingest
        self.recordings = recordings

    async def find(self, who: Uploader, session_uid: str) -> SessionIndex:
        """The session, when this uploader may see it (else it does not exist for them)."""
        uid = keys.check_token(session_uid, "session_uid")
        index = await self.catalog.session(uid)
        if index is None or index.user_id != who.user_id:
            raise ResourceNotFound("unknown session")
        if who.session_uid is not None and who.session_uid != uid:
            raise ResourceNotFound("unknown session")
        return index

    async def status(self, who: Uploader, session_uid: str) -> SessionStatus:
        """What the server holds, read from the chunk objects: a recorder resends the rest."""
        index = await self.find(who, session_uid)
        user, rec, uid = index.user_id, index.recording_id, index.session_uid
        manifest, _ = await self.catalog.load(user, rec)
        walked = await walk_media(self.storage, user, rec, uid)
        digests = await self._digests([c for chunks in walked.values() for c in chunks])
        media: dict[str, MediaProgress] = {}
        for kind, chunks in walked.items():
            state = manifest.media.get(kind)
            final_seq = state.final_seq if state else None
            stored = [StoredChunk(c.seq, c.info.size, digests[c.info.key]) for c in chunks]
            compacted = None if state is None else bool(state.compacted_at)
            media[kind] = MediaProgress(
                stored, missing_seqs(chunks, final_seq), final_seq, compacted
            )
        for kind, state in manifest.media.items():
            if state.compacted_at:  # its chunks are gone: the facts stay in the manifest
                media[kind] = MediaProgress([], list(state.missing_chunks), state.final_seq, True)
        return SessionStatus(uid, rec, manifest.status, media)

    async def finalize(self, who: Uploader, session_uid: str) -> RecordingView:
        index = await self.find(who, session_uid)
        return await self.recordings.view(await self.ingest.finalize(index))

    async def _digests(self, chunks: list[ChunkObject]) -> dict[str, str]:
        found: dict[str, str] = {}
        limiter = anyio.CapacityLimiter(_STAT_CONCURRENCY)

        async def one(key: str) -> None:
            async with limiter:
                found[key] = await sha256_of(self.storage, key)

        async with anyio.create_task_group() as group:
            for chunk in chunks:
                group.start_soon(one, chunk.info.key)
        return found
