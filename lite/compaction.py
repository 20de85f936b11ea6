"""Chunk compaction: once a master is final and its sha256 checked, its chunks are removed.

Two steps, each safe to repeat and to run on several replicas at once:
1. seal: the media file's state is marked `sealed_at` (compare-and-swap, only while the chunks
   still match what the master was built from). From then on a late chunk is refused (410) and
   nothing rebuilds the master, so no build can start from a partial set of chunks.
2. remove (at least `settle_seconds` later, so a build that began before the seal has finished):
   the stored master is read back and must match the manifest's sha256; then the chunk objects go
   and the state is marked `compacted_at`. Chunk facts (count, missing seqs) stay in the manifest.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from lite import keys
from lite.catalog import Catalog
from lite.chunks import fingerprint, list_chunks
from lite.errors import NotFound
from lite.manifest import COMPLETED, IN_PROGRESS, Manifest, MediaState, now_iso
from lite.retention import parse_time
from lite.storage.base import Storage

log = logging.getLogger("lite.compaction")


class Compactor:
    def __init__(
        self, storage: Storage, catalog: Catalog, keep_hours: int, settle_seconds: float
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.keep_hours = keep_hours  # -1: keep chunks forever
        self.settle_seconds = settle_seconds

    def due(self, state: MediaState, now: datetime) -> bool:
        if self.keep_hours < 0 or state.status != COMPLETED or state.compacted_at:
            return False
        if not state.finalized_at or state.sha256 is None or state.format is None:
            return False
        return parse_time(state.finalized_at) + timedelta(hours=self.keep_hours) <= now

    async def run(self, manifest: Manifest, now: datetime) -> int:
        """Seal or compact the recording's due media files; the number of chunks removed."""
        if manifest.status == IN_PROGRESS:
            return 0  # another media type is still arriving
        removed = 0
        for kind in sorted(manifest.media):
            state = manifest.media[kind]
            if not self.due(state, now):
                continue
            if state.sealed_at is None:
                sealed = await self._seal(manifest, kind)
                if sealed is None or self.settle_seconds > 0:
                    continue
                state = sealed
            elif parse_time(state.sealed_at) + timedelta(seconds=self.settle_seconds) > now:
                continue
            removed += await self._remove(manifest, state)
        return removed

    async def _seal(self, manifest: Manifest, kind: str) -> MediaState | None:
        user, rec, uid = manifest.user_id, manifest.id, manifest.session_uid
        mark = fingerprint(await list_chunks(self.storage, user, rec, uid, kind))
        if mark != manifest.media[kind].fingerprint:
            return None  # a late chunk is being built in: look again at the next pass

        def seal(current: Manifest) -> None:
            state = current.media.get(kind)
            if state and state.status == COMPLETED and state.fingerprint == mark:
                state.sealed_at = state.sealed_at or now_iso()

        updated = await self.catalog.update(user, rec, seal)
        state = updated.media.get(kind)
        return state if state is not None and state.sealed_at else None

    async def _remove(self, manifest: Manifest, state: MediaState) -> int:
        user, rec, uid = manifest.user_id, manifest.id, manifest.session_uid
        assert state.format is not None
        master = keys.master_key(user, rec, uid, state.media_type, state.format)
        if not await self._master_checks_out(master, state):
            await self._unseal(manifest, state.media_type)
            return 0
        chunks = await list_chunks(self.storage, user, rec, uid, state.media_type)
        for chunk in chunks:
            await self.storage.delete(chunk.info.key)
        prefix = keys.chunk_prefix(user, rec, uid, state.media_type)
        for directory in (prefix, prefix.removesuffix("chunks/"), prefix.rsplit("/", 3)[0] + "/"):
            await self.storage.delete(directory)  # only removed when empty

        def mark(current: Manifest) -> None:
            found = current.media.get(state.media_type)
            if found is not None and found.sealed_at:
                found.compacted_at = found.compacted_at or now_iso()

        await self.catalog.update(user, rec, mark)
        log.info("recording %s: %d %s chunks compacted", rec, len(chunks), state.media_type)
        return len(chunks)

    async def _unseal(self, manifest: Manifest, kind: str) -> None:
        """The master is not what the manifest says, and every chunk is still here: lift the
        seal so a rebuild (`vexa-lite verify --repair`, or a late chunk) can replace it."""

        def unseal(current: Manifest) -> None:
            found = current.media.get(kind)
            if found is not None and not found.compacted_at:
                found.sealed_at = None

        await self.catalog.update(manifest.user_id, manifest.id, unseal)

    async def _master_checks_out(self, key: str, state: MediaState) -> bool:
        """The stored master is the one the manifest describes, byte for byte."""
        digest = hashlib.sha256()
        try:
            reader = await self.storage.open_range(key)
        except NotFound:
            log.error("master %s is missing: its chunks are kept", key)
            return False
        try:
            async for block in reader:
                digest.update(block)
        finally:
            await reader.aclose()
        if digest.hexdigest() != state.sha256:
            log.error("master %s does not match its sha256: its chunks are kept", key)
            return False
        return True
