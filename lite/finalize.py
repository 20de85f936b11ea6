"""Finalize: assemble a session's masters from its chunk objects and record them in the manifest
with compare-and-swap; idempotent and safe to race (docs/architecture.md, The life of a chunk)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from lite import ids, keys, media
from lite.catalog import Catalog
from lite.chunks import fingerprint, list_chunks, media_types, missing_seqs
from lite.errors import Conflict, NotFound
from lite.manifest import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    Manifest,
    MediaState,
    SessionIndex,
    now_iso,
)
from lite.storage.base import LocalPaths, Presigner, Storage

if TYPE_CHECKING:
    from lite.assemble import Plan

_BUILD_ATTEMPTS = 10
# Builds at once; more wait their turn in order. A burst of final chunks (1,000 bots ending
# together) then completes one by one instead of all sharing the CPU until the very end.
FINALIZE_CONCURRENCY = 16


class StillArriving(Conflict):
    """Chunks kept changing under a build: the requests that bring them build again."""


@dataclass(frozen=True)
class Written:
    size: int
    sha256: str
    duration_seconds: float | None
    etag: str


class Finalizer:
    def __init__(self, storage: Storage, catalog: Catalog) -> None:
        self.storage = storage
        self.catalog = catalog
        self.wav_gap_fill = True  # LITE_WAV_GAP_FILL: a missing WAV seq becomes silence
        self.on_master: Callable[[Manifest, MediaState], None] | None = None  # must not block
        self.on_finalized: Callable[[str, float], None] = _ignore  # (outcome, seconds)
        self._building = anyio.Semaphore(FINALIZE_CONCURRENCY)

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
            # Loaded by the first finalize, not at start-up: readiness does not need them.
            from lite.masterplan import make_master_plan

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
        from lite.assemble import write_plan

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


def media_state(manifest: Manifest, kind: str) -> MediaState:
    """The manifest's entry for a media type, entered (in progress) when it has none yet."""
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
            media_state(manifest, other)
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
