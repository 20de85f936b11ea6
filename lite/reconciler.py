"""Finalizes sessions whose bot went silent (it crashed, so no final chunk will come).

Safe with several replicas running it at once: finalize is idempotent and its manifest updates
are compare-and-swap.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

import anyio

from lite.catalog import Catalog
from lite.chunks import list_chunks, media_types
from lite.errors import LiteError, ResourceNotFound
from lite.ingest import IngestService
from lite.manifest import IN_PROGRESS, SessionIndex

log = logging.getLogger("lite.reconciler")


class Reconciler:
    def __init__(self, catalog: Catalog, ingest: IngestService, idle_seconds: int) -> None:
        self.catalog = catalog
        self.ingest = ingest
        self.idle_seconds = idle_seconds

    async def last_activity(self, index: SessionIndex) -> datetime:
        """The newest chunk's time, or the session's creation when none arrived."""
        storage = self.catalog.storage
        newest = datetime.fromisoformat(index.created_at.replace("Z", "+00:00"))
        user, rec, uid = index.user_id, index.recording_id, index.session_uid
        for kind in await media_types(storage, user, rec, uid):
            for chunk in await list_chunks(storage, user, rec, uid, kind):
                newest = max(newest, chunk.info.modified)
        return newest

    async def run_once(self, now: datetime | None = None) -> list[str]:
        """Finalize every idle open session; return their session uids."""
        moment = now or datetime.now(UTC)
        finished = []
        for uid in await self.catalog.open_sessions():
            try:
                if await self._reconcile(uid, moment):
                    finished.append(uid)
            except LiteError as exc:
                log.warning("reconciling session %s failed: %s", uid, exc.message)
        return finished

    async def _reconcile(self, uid: str, moment: datetime) -> bool:
        index = await self.catalog.session(uid)
        if index is None:
            await self._drop_orphan(uid, moment)
            return False
        manifest, _ = await self.catalog.load(index.user_id, index.recording_id)
        if manifest.status != IN_PROGRESS:
            await self.catalog.mark_closed(uid)
            return False
        idle = (moment - await self.last_activity(index)).total_seconds()
        if idle < self.idle_seconds:
            return False
        log.info("session %s idle for %.0f s: finalizing", uid, idle)
        await self.ingest.finalize(index)
        return True

    async def _drop_orphan(self, uid: str, moment: datetime) -> None:
        """A marker without a session index: creation crashed between claiming the recording
        and writing the index (no chunk can have been accepted), or the session was deleted."""
        claimed = await self.catalog.open_marker(uid)
        if claimed is not None:
            created = datetime.fromisoformat(claimed.created_at.replace("Z", "+00:00"))
            if (moment - created).total_seconds() < self.idle_seconds:
                return  # perhaps still being created right now
            with contextlib.suppress(ResourceNotFound):
                await self.catalog.delete(claimed.user_id, claimed.recording_id)
                log.info(
                    "removed recording %s left by an interrupted creation", claimed.recording_id
                )
        await self.catalog.mark_closed(uid)

    async def run_forever(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            try:
                await self.run_once()
            except LiteError as exc:
                log.warning("reconciler pass failed: %s", exc.message)
