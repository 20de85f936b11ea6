"""The ingest service behind both doors: store chunks durably, finalize masters.

The steps are in docs/architecture.md, The life of a chunk.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from lite import ids, keys, media, sniff
from lite.assemble import Plan, write_plan
from lite.catalog import Catalog, SessionGone
from lite.chunks import (
    SHA256,
    GuardedBody,
    content_digest,
    fingerprint,
    list_chunks,
    media_types,
    missing_seqs,
    sha256_of,
)
from lite.errors import (
    AlreadyExists,
    Conflict,
    LiteError,
    NotFound,
    PreconditionFailed,
    ResourceNotFound,
    Sealed,
    Unavailable,
)
from lite.manifest import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    Manifest,
    MediaState,
    SessionIndex,
    now_iso,
)
from lite.masterplan import make_master_plan
from lite.owners import UNASSIGNED
from lite.storage.base import ConditionalWriter, LocalPaths, Presigner, Storage

log = logging.getLogger("lite.ingest")
_BUILD_ATTEMPTS = 10
# Builds at once; more wait their turn in order. A burst of final chunks (1,000 bots ending
# together) then completes one by one instead of all sharing the CPU until the very end.
FINALIZE_CONCURRENCY = 16
_REPLACE_ATTEMPTS = 3


class StillArriving(Conflict):
    """Chunks kept changing under a build: the requests that bring them build again."""


@dataclass(frozen=True)
class Uploader:
    """Who sends chunks: a user (a MeetingToken, or INTERNAL_API_SECRET naming one), a token
    bound to a session, or the internal secret alone (`user_id` None: the session's registered
    owner, see resolve_session)."""

    user_id: int | None
    session_uid: str | None = None  # set for upload tokens: only this session
    recording_id: int | None = None
    meeting_id: str | None = None


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


@dataclass(frozen=True)
class ChunkIn:
    session_uid: str
    media_type: str
    seq: int
    ext: str
    body: AsyncIterable[bytes]
    declared_sha256: str | None = None
    is_final: bool = False


class IngestService:
    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        max_chunk_bytes: int,
        default_user_id: int = UNASSIGNED,
        on_unowned: Callable[[str], None] | None = None,
    ) -> None:
        assert isinstance(storage, ConditionalWriter)
        self.storage = storage
        self.writer: ConditionalWriter = storage
        self.catalog = catalog
        self.max_chunk_bytes = max_chunk_bytes
        self.wav_gap_fill = True  # LITE_WAV_GAP_FILL: a missing WAV seq becomes silence
        self.on_master: Callable[[Manifest, MediaState], None] | None = None  # must not block
        # Connected to metrics by the app factory: (outcome, bytes) per chunk, and (outcome,
        # seconds) per media file assembled.
        self.on_chunk: Callable[[str, int], None] = _ignore
        self.on_finalized: Callable[[str, float], None] = _ignore
        self.default_user_id = default_user_id
        self.on_unowned = on_unowned or (lambda owner: None)
        self._building = anyio.Semaphore(FINALIZE_CONCURRENCY)

    async def resolve_session(
        self, who: Uploader, session_uid: str, source: str, index: SessionIndex | None
    ) -> SessionIndex:
        """The session a chunk belongs to (docs/vexa.md, "Who owns a chunk"), given `index`, the
        session as just looked up (None when absent)."""
        if who.user_id is None:
            return await self._registered_or_new(index, session_uid, who.meeting_id, source)
        if who.recording_id is None:
            return await self.catalog.join_session(
                index, session_uid, who.user_id, who.meeting_id, source
            )
        # An upload token names an existing recording: it never creates (or revives) one.
        if (
            index is None
            or who.session_uid != session_uid
            or index.recording_id != who.recording_id
            or index.user_id != who.user_id
        ):
            raise ResourceNotFound("unknown session for this upload token")
        return index

    async def _registered_or_new(
        self, index: SessionIndex | None, session_uid: str, meeting_id: str | None, source: str
    ) -> SessionIndex:
        """The internal secret alone (Vexa's HEAD bot): the registered session's owner; a session
        nobody registered goes to LITE_DEFAULT_USER_ID, else to an unassigned recording that the
        admin assigns. Never refused: the chunk is the meeting."""
        if index is not None:
            return index
        owner = self.default_user_id
        index = await self.catalog.join_session(None, session_uid, owner, meeting_id, source)
        if index.user_id == UNASSIGNED:
            self.on_unowned("unassigned")
            log.warning("chunk of unregistered session %s kept unassigned", session_uid)
        elif index.user_id == self.default_user_id:
            self.on_unowned("default_user")
            log.warning("chunk of unregistered session %s given to user %s", session_uid, owner)
        return index

    async def receive(self, who: Uploader, chunk: ChunkIn, source: str) -> Received:
        """Store one chunk durably, then finalize when it is the last one (or arrives late)."""
        chunk = await _sniffed(chunk)
        # Everything checkable is checked before a recording is created: a refused first chunk
        # (bad seq, format, digest or size) leaves nothing behind.
        keys.chunk_key(0, 0, chunk.session_uid, chunk.media_type, chunk.seq, chunk.ext)
        body = GuardedBody(chunk.body, self.max_chunk_bytes, chunk.declared_sha256)
        existing = await self.catalog.session(chunk.session_uid)
        if who.recording_id is None and existing is None:
            await body.read_ahead()
        index = await self.resolve_session(who, chunk.session_uid, source, existing)
        user, rec = index.user_id, index.recording_id
        key = keys.chunk_key(user, rec, chunk.session_uid, chunk.media_type, chunk.seq, chunk.ext)
        try:
            duplicate = await self._store(key, body)
        except LiteError as exc:
            self.on_chunk(exc.code, 0)
            raise
        self.on_chunk("duplicate" if duplicate else "stored", 0 if duplicate else body.size)
        if not duplicate:
            await self._refuse_other_format(index, chunk, key)
        try:
            status = await self._after_chunk(index, chunk, duplicate)
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
        media_file_id = ids.media_file_id(rec, chunk.media_type)
        return Received(
            index, media_file_id, chunk.media_type, chunk.seq, body.sha256, duplicate, status
        )

    async def _store(self, key: str, body: GuardedBody) -> bool:
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

    async def _refuse_other_format(self, index: SessionIndex, chunk: ChunkIn, key: str) -> None:
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
            state = _state(manifest, media_type)
            state.final_seq = seq if state.final_seq is None else max(state.final_seq, seq)

        return await self.catalog.update(index.user_id, index.recording_id, change)

    async def finalize(
        self, index: SessionIndex, only: list[str] | None = None, known: Manifest | None = None
    ) -> Manifest:
        """Assemble masters for the session's media types; idempotent and safe to race.
        `known`: the manifest as just read or written, saving a read."""
        async with self._building:
            return await self._finalize(index, only, known)

    async def _finalize(
        self, index: SessionIndex, only: list[str] | None, known: Manifest | None
    ) -> Manifest:
        user, rec, uid = index.user_id, index.recording_id, index.session_uid
        manifest = known or (await self.catalog.load(user, rec))[0]
        present = set(await media_types(self.storage, user, rec, uid))
        kinds = only or sorted(present | set(manifest.media))
        for kind in kinds:
            manifest = await self._finalize_media(index, kind, sorted(present), known)
            known = None
        if not kinds:
            manifest = await self.catalog.update(user, rec, _fail_empty)
        if manifest.status != IN_PROGRESS:
            await self.catalog.mark_closed(uid)
        return manifest

    async def _finalize_media(
        self, index: SessionIndex, kind: str, present: list[str], known: Manifest | None
    ) -> Manifest:
        user, rec, uid = index.user_id, index.recording_id, index.session_uid
        for _ in range(_BUILD_ATTEMPTS):
            chunks = await list_chunks(self.storage, user, rec, uid, kind)
            mark = fingerprint(chunks)
            # A manifest read before the listing may be older than the chunks: then this builds
            # once more than needed, never less (the write below checks again).
            manifest = known or (await self.catalog.load(user, rec))[0]
            known = None
            current = manifest.media.get(kind)
            if current and current.sealed_at:
                return manifest  # final: its chunks are being (or were) compacted away
            if (
                current
                and current.fingerprint == mark
                and await self._master_intact(index, current)
            ):
                return manifest  # already built from exactly these chunks
            started = time.perf_counter()
            plan = await make_master_plan(self.storage, chunks, wav_gap_fill=self.wav_gap_fill)
            written = await self._write_master(index, kind, plan)
            final_seq = current.final_seq if current else None
            result = _built_state(kind, rec, chunks, final_seq, plan, written, mark)
            updated = await self.catalog.update(user, rec, _apply(kind, result, mark, present))
            state = updated.media[kind]
            self.on_finalized(result.status, time.perf_counter() - started)
            if state.fingerprint == mark and await self._master_intact(index, state):
                if self.on_master is not None:
                    self.on_master(updated, state)  # e.g. waveform peaks, in the background
                return updated
            # Chunks changed while we built, or a racing finalizer wrote the master after our
            # manifest named its own: build again, so the manifest names the stored master.
        raise StillArriving("chunks keep arriving while finalizing; retry")

    async def _master_intact(self, index: SessionIndex, state: MediaState) -> bool:
        """A racing finalizer may have overwritten the master with an older build."""
        if state.status == IN_PROGRESS:
            return False
        if state.status == FAILED or state.format is None:
            return True
        key = keys.master_key(
            index.user_id, index.recording_id, index.session_uid, state.media_type, state.format
        )
        try:
            return (await self.storage.stat(key)).etag == state.master_etag
        except NotFound:
            return False

    async def _write_master(self, index: SessionIndex, kind: str, plan: Plan) -> Written | None:
        if not plan.playable or not plan.segments:
            return None
        key = keys.master_key(index.user_id, index.recording_id, index.session_uid, kind, plan.ext)
        stored = await write_plan(self.storage, key, plan)
        duration = plan.duration_seconds
        if duration is None:
            duration = await self._probe(key)
        return Written(stored.info.size, stored.sha256, duration, stored.info.etag)

    async def _probe(self, key: str) -> float | None:
        if isinstance(self.storage, LocalPaths):
            return await media.probe_duration(self.storage.local_path(key))
        if isinstance(self.storage, Presigner):
            return await media.probe_duration(await self.storage.presign_get(key, 300))
        return None


@dataclass(frozen=True)
class Written:
    size: int
    sha256: str
    duration_seconds: float | None
    etag: str


async def _sniffed(chunk: ChunkIn) -> ChunkIn:
    """415 for a chunk whose bytes are not its declared format, before anything is created.
    WebM chunks after the first continue the stream and carry no header to check."""
    if chunk.seq > 0 and chunk.ext != "wav":
        return chunk
    head, body = await sniff.peek(chunk.body)
    sniff.check(chunk.ext, head)
    return dataclasses.replace(chunk, body=body)


def _state(manifest: Manifest, kind: str) -> MediaState:
    if kind not in manifest.media:
        manifest.media[kind] = MediaState(kind, ids.media_file_id(manifest.id, kind))
    return manifest.media[kind]


def _built_state(
    kind: str,
    rec: int,
    chunks: list[Any],
    final_seq: int | None,
    plan: Plan,
    written: Written | None,
    mark: str,
) -> MediaState:
    state = MediaState(kind, ids.media_file_id(rec, kind), format=plan.ext, final_seq=final_seq)
    state.chunk_count = len(chunks)
    state.missing_chunks = missing_seqs(chunks, final_seq)
    state.problems = list(plan.problems)
    state.fingerprint = mark
    state.finalized_at = now_iso()
    if written is None:
        state.status = FAILED
    else:
        state.size, state.sha256 = written.size, written.sha256
        state.duration_seconds, state.master_etag = written.duration_seconds, written.etag
        state.status = COMPLETED
    return state


def _apply(kind: str, built: MediaState, mark: str, present: list[str]) -> Any:
    """The manifest change of one finished build. Media types that have chunks but no build
    yet are entered as in progress, so one type's final chunk cannot complete the recording
    (and close it to the reconciler) while another type is still arriving."""

    def change(manifest: Manifest) -> None:
        for other in present:
            _state(manifest, other)
        previous = manifest.media.get(kind)
        if previous and previous.sealed_at:
            return  # sealed meanwhile: the stored master stays the final one
        if previous and previous.status != IN_PROGRESS and previous.chunk_count > built.chunk_count:
            return  # a racing finalizer built from more chunks (chunks are only ever added)
        built.created_at = previous.created_at if previous else built.created_at
        if previous and previous.final_seq is not None:
            built.final_seq = max(previous.final_seq, built.final_seq or 0)
        manifest.media[kind] = built
        manifest.settle_status()

    return change


def _fail_empty(manifest: Manifest) -> None:
    manifest.status = FAILED
    manifest.error_message = "no media data received"
    manifest.completed_at = now_iso()


def _ignore(outcome: str, amount: float) -> None:
    return None
