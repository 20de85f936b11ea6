"""Finalizes sessions whose bot went silent (it crashed, so no final chunk will come), and
clears what crashes leave behind: creations cut short, temp files, unfinished uploads.

Safe with several replicas running it at once: finalize is idempotent and its manifest updates
are compare-and-swap. One session that cannot be reconciled is logged and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio

from lite import keys
from lite.catalog import Catalog
from lite.chunks import media_types, walk_media
from lite.errors import AlreadyExists, ResourceNotFound
from lite.ingest import IngestService
from lite.manifest import IN_PROGRESS, SessionIndex
from lite.storage.base import ConditionalWriter, LeftoverSweeper, iter_bytes

log = logging.getLogger("lite.reconciler")
CLAIMS_PREFIX = "_system/reconcile-claims/"


class Reconciler:
    def __init__(self, catalog: Catalog, ingest: IngestService, idle_seconds: int) -> None:
        self.catalog = catalog
        self.ingest = ingest
        self.idle_seconds = idle_seconds
        # Counters the app factory connects to its metrics (passes done, items or passes failed).
        self.on_pass: Callable[[], None] = _nothing
        self.on_error: Callable[[], None] = _nothing

    async def last_activity(self, index: SessionIndex) -> datetime:
        """The newest chunk's time, or the session's creation when none arrived."""
        storage = self.catalog.storage
        newest = _parse(index.created_at)
        walked = await walk_media(storage, index.user_id, index.recording_id, index.session_uid)
        for chunks in walked.values():
            for chunk in chunks:
                newest = max(newest, chunk.info.modified)
        return newest

    async def run_once(self, now: datetime | None = None, sweep: bool = False) -> list[str]:
        """Finalize every idle open session; return their session uids. With `sweep`, also
        remove leftovers of crashes (done once per start: crashes end in a restart)."""
        moment = now or datetime.now(UTC)
        finished = []
        for uid in await self.catalog.open_sessions():
            try:
                if await self._reconcile(uid, moment):
                    finished.append(uid)
            except Exception:  # one broken session must not stop the others
                log.exception("reconciling session %s failed", uid)
                self.on_error()
        if sweep:
            await self.sweep(moment)
        self.on_pass()
        return finished

    async def _reconcile(self, uid: str, moment: datetime) -> bool:
        index = await self.catalog.session(uid)
        if index is None:
            await self._drop_orphan(uid, moment)
            return False
        # Writes the manifest when a crash during creation left only the claim.
        manifest, _ = await self.catalog.load_session_manifest(index)
        if manifest.status != IN_PROGRESS:
            await self.catalog.mark_closed(uid)
            return False
        last = await self.last_activity(index)
        idle = (moment - last).total_seconds()
        if idle < self.idle_seconds:
            return False
        claim = await self._claim(uid, last, idle)
        if claim is None:
            return False
        log.info("session %s idle for %.0f s: finalizing", uid, idle)
        await self.ingest.finalize(index)
        if claim:  # ours, and any left by a replica that died while finalizing
            storage = self.catalog.storage
            for info in [i async for i in storage.list(f"{CLAIMS_PREFIX}{uid}/")]:
                await storage.delete(info.key)
        return True

    async def _claim(self, uid: str, last: datetime, idle: float) -> str | None:
        """One replica finalizes an idle session: the first to create the claim object named after
        the session's last activity. Its name also carries the count of idle periods passed, so
        if the winner dies mid-way another replica claims it one idle period later. Returns the
        claim's key ('' on a store without create-if-absent), or None when another replica won."""
        storage = self.catalog.storage
        if not isinstance(storage, ConditionalWriter):
            return ""
        turn = int(idle // self.idle_seconds)
        key = f"{CLAIMS_PREFIX}{uid}/{int(last.timestamp() * 1000)}-{turn}"
        try:
            await storage.put_if_absent(key, iter_bytes(b""))
        except AlreadyExists:
            return None
        return key

    async def _drop_orphan(self, uid: str, moment: datetime) -> None:
        """A marker without a session index: the session was deleted, or (before the index
        became the claim) creation crashed before writing it; no chunk can have been accepted."""
        claimed = await self.catalog.open_marker(uid)
        if claimed is not None:
            if (moment - _parse(claimed.created_at)).total_seconds() < self.idle_seconds:
                return  # perhaps still being created right now
            await self._remove_unclaimed(claimed.user_id, claimed.recording_id, uid)
        await self.catalog.mark_closed(uid)

    async def _remove_unclaimed(self, user_id: int, recording_id: int, uid: str) -> None:
        """Remove a recording of `uid` that the session index does not name (nobody can reach
        it), unless chunks were stored in it."""
        try:
            manifest, _ = await self.catalog.load(user_id, recording_id)
        except ResourceNotFound:
            return
        index = await self.catalog.session(uid)
        if manifest.session_uid != uid or (index and index.recording_id == recording_id):
            return
        if await media_types(self.catalog.storage, user_id, recording_id, uid):
            return
        await self.catalog.delete(user_id, recording_id)
        log.info("removed recording %s left by an interrupted creation", recording_id)

    async def sweep(self, moment: datetime) -> None:
        """Leftovers older than the idle time: the storage's temp files and unfinished uploads,
        and in-progress recordings that no session index names (ghosts of older crashes)."""
        before = moment - timedelta(seconds=self.idle_seconds)
        storage = self.catalog.storage
        try:
            if isinstance(storage, LeftoverSweeper):
                removed = await storage.sweep_leftovers(before)
                if removed:
                    log.info("removed %d leftover temp files or uploads", removed)
            for user_name in await storage.list_children(keys.RECORDINGS_PREFIX):
                if user_name.isdigit():
                    await self._sweep_user(int(user_name), before)
        except Exception:
            log.exception("sweeping leftovers failed")
            self.on_error()

    async def _sweep_user(self, user_id: int, before: datetime) -> None:
        for recording_id in await self.catalog.recording_ids(user_id):
            try:
                manifest, _ = await self.catalog.load(user_id, recording_id)
                if manifest.status == IN_PROGRESS and _parse(manifest.created_at) < before:
                    await self._remove_unclaimed(user_id, recording_id, manifest.session_uid)
            except ResourceNotFound:
                continue
            except Exception:
                log.exception("sweeping recording %s failed", recording_id)
                self.on_error()

    async def run_forever(self, interval: float) -> None:
        sweep = True
        while True:
            await anyio.sleep(interval)
            try:
                await self.run_once(sweep=sweep)
                sweep = False
            except Exception:  # the loop itself must not die of one bad pass
                log.exception("reconciler pass failed")
                self.on_error()


def _nothing() -> None:
    return None


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))
