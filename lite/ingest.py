"""The ingest service behind both doors: receive a chunk (check, store durably, acknowledge) and
finalize when it is the last one. Owner resolution, storing and finalize live in modules of their
own (lite/ingest_owner.py, lite/ingest_store.py, lite/finalize.py).

The steps are in docs/architecture.md, The life of a chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lite import ids, keys
from lite.budget import ByteBudget
from lite.catalog import Catalog, SessionGone
from lite.chunks import GuardedBody
from lite.errors import LiteError, ResourceNotFound, Sealed
from lite.finalize import FINALIZE_CONCURRENCY, Finalizer, StillArriving, media_state
from lite.ingest_owner import OwnerResolver, Uploader
from lite.ingest_store import ChunkIn, ChunkStore, sniffed
from lite.manifest import IN_PROGRESS, Manifest, MediaState, SessionIndex
from lite.owners import UNASSIGNED
from lite.storage.base import Storage

__all__ = [
    "FINALIZE_CONCURRENCY",
    "ChunkIn",
    "IngestService",
    "Received",
    "StillArriving",
    "Uploader",
]


@dataclass(frozen=True)
class Received:
    """One chunk stored (or found stored already, byte for byte: `duplicate`)."""

    session: SessionIndex
    media_file_id: int
    media_type: str
    seq: int
    sha256: str
    duplicate: bool
    status: str  # the recording's, after this chunk


class IngestService:
    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        max_chunk_bytes: int,
        default_user_id: int = UNASSIGNED,
        on_unowned: Callable[[str], None] | None = None,
        memory_bytes: int = 0,
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.max_chunk_bytes = max_chunk_bytes
        # Chunk bytes in memory at once (LITE_CHUNK_MEMORY_BYTES), held by the doors per upload.
        self.memory = ByteBudget(memory_bytes)
        self.owners = OwnerResolver(catalog, default_user_id, on_unowned)
        self.chunks = ChunkStore(storage)
        self.finalizer = Finalizer(storage, catalog)
        # Connected to metrics by the app factory: (outcome, bytes) per chunk.
        self.on_chunk: Callable[[str, int], None] = _ignore

    # The finalizer's knobs, set by the app factory after construction.
    @property
    def wav_gap_fill(self) -> bool:
        return self.finalizer.wav_gap_fill

    @wav_gap_fill.setter
    def wav_gap_fill(self, value: bool) -> None:
        self.finalizer.wav_gap_fill = value

    @property
    def on_master(self) -> Callable[[Manifest, MediaState], None] | None:
        return self.finalizer.on_master

    @on_master.setter
    def on_master(self, value: Callable[[Manifest, MediaState], None] | None) -> None:
        self.finalizer.on_master = value

    @property
    def on_finalized(self) -> Callable[[str, float], None]:
        return self.finalizer.on_finalized

    @on_finalized.setter
    def on_finalized(self, value: Callable[[str, float], None]) -> None:
        self.finalizer.on_finalized = value

    async def resolve_session(
        self, who: Uploader, session_uid: str, source: str, index: SessionIndex | None
    ) -> SessionIndex:
        return await self.owners.resolve_session(who, session_uid, source, index)

    async def finalize(
        self, index: SessionIndex, only: list[str] | None = None, known: Manifest | None = None
    ) -> Manifest:
        return await self.finalizer.finalize(index, only, known)

    async def receive(self, who: Uploader, chunk: ChunkIn, source: str) -> Received:
        """Store one chunk durably, then finalize when it is the last one (or arrives late)."""
        chunk = await sniffed(chunk)
        # Everything checkable is checked before a recording is created: a refused first chunk
        # (bad seq, format, digest or size) leaves nothing behind.
        keys.chunk_key(0, 0, chunk.session_uid, chunk.media_type, chunk.seq, chunk.ext)
        body = GuardedBody(chunk.body, self.max_chunk_bytes, chunk.declared_sha256)
        existing = await self.catalog.session(chunk.session_uid)
        if who.recording_id is None and existing is None:
            await body.read_ahead()
        index = await self.owners.resolve_session(who, chunk.session_uid, source, existing)
        user, rec = index.user_id, index.recording_id
        key = keys.chunk_key(user, rec, chunk.session_uid, chunk.media_type, chunk.seq, chunk.ext)
        duplicate = await self._store(key, body)
        if not duplicate:
            await self.chunks.refuse_other_format(index, chunk, key)
        status = await self._settle(who, index, chunk, key, duplicate)
        media_file_id = ids.media_file_id(rec, chunk.media_type)
        return Received(
            index, media_file_id, chunk.media_type, chunk.seq, body.sha256, duplicate, status
        )

    async def _store(self, key: str, body: GuardedBody) -> bool:
        try:
            duplicate = await self.chunks.store(key, body)
        except LiteError as exc:
            self.on_chunk(exc.code, 0)
            raise
        self.on_chunk("duplicate" if duplicate else "stored", 0 if duplicate else body.size)
        return duplicate

    async def _settle(
        self, who: Uploader, index: SessionIndex, chunk: ChunkIn, key: str, duplicate: bool
    ) -> str:
        """The recording's status after a stored chunk; the chunk is removed again when its
        recording was deleted or sealed meanwhile."""
        try:
            return await self._after_chunk(index, chunk, duplicate)
        except SessionGone:
            if not duplicate:
                await self.storage.delete(key)
            if who.recording_id is not None:
                raise ResourceNotFound("the recording was deleted") from None
            raise  # 409: the retry starts a new recording for the session
        except Sealed:
            if not duplicate:
                await self.storage.delete(key)  # the master is final: this chunk adds nothing
            raise

    async def _after_chunk(self, index: SessionIndex, chunk: ChunkIn, duplicate: bool) -> str:
        """Finalize at once when the final chunk arrives, from what is there (gaps listed), like
        Vexa's meeting-api; rebuild when a chunk arrives after that. A bot that skips a chunk
        for good thus leaves a completed recording, and one whose final chunk overtook the last
        data chunk ends with the full master."""
        manifest, _ = await self.catalog.load_session_manifest(index)
        sealed = manifest.media.get(chunk.media_type)
        if sealed is not None and sealed.sealed_at and not (duplicate and not sealed.compacted_at):
            raise Sealed(
                f"the recording is sealed: its {chunk.media_type} file is final and takes no "
                "more chunks",
                recording_id=index.recording_id,
            )
        if chunk.is_final:
            manifest = await self._set_final(index, chunk.media_type, chunk.seq)
        state = manifest.media.get(chunk.media_type)
        if duplicate and not chunk.is_final:
            return manifest.status
        late = manifest.status != IN_PROGRESS or (state is not None and state.status != IN_PROGRESS)
        if not late and (state is None or state.final_seq is None):
            return manifest.status
        try:
            return (await self.finalize(index, [chunk.media_type], manifest)).status
        except StillArriving:
            # The chunk is stored; a request still bringing chunks builds after it (and the
            # reconciler after that), so the sender hears success, not a conflict to retry.
            return manifest.status

    async def _set_final(self, index: SessionIndex, media_type: str, seq: int) -> Manifest:
        def change(manifest: Manifest) -> None:
            state = media_state(manifest, media_type)
            state.final_seq = seq if state.final_seq is None else max(state.final_seq, seq)

        return await self.catalog.update(index.user_id, index.recording_id, change)


def _ignore(outcome: str, amount: float) -> None:
    return None
