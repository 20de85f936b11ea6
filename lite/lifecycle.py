"""The lifecycle pass: expired recordings are deleted, finished ones have their chunks compacted.

One pass walks every recording's manifest (one listing per user and one read per recording), so
its cost grows with the number of recordings; LITE_LIFECYCLE_INTERVAL_SECONDS sets how often it
runs. Several replicas may run it at once: an expiry is done under a lease (one replica deletes a
recording and announces it once), and compaction's steps are idempotent compare-and-swaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
from prometheus_client import CollectorRegistry, Counter

from lite import keys
from lite.catalog import Catalog
from lite.compaction import Compactor
from lite.errors import LiteError, ResourceNotFound
from lite.events import EXPIRED_EVENT
from lite.leases import Leases
from lite.manifest import IN_PROGRESS, Manifest
from lite.outbox import Outbox
from lite.retention import RetentionPolicy

log = logging.getLogger("lite.lifecycle")
EXPIRY_LEASE_SECONDS = 600.0


@dataclass
class PassReport:
    expired: list[int] = field(default_factory=list)
    chunks_removed: int = 0


class Lifecycle:
    def __init__(
        self,
        catalog: Catalog,
        policy: RetentionPolicy,
        compactor: Compactor,
        leases: Leases,
        outbox: Outbox | None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.compactor = compactor
        self.leases = leases
        self.outbox = outbox
        self.expired = Counter(
            "lite_recordings_expired", "Recordings deleted by retention", registry=registry
        )
        self.compacted = Counter(
            "lite_chunks_compacted", "Chunk objects removed by compaction", registry=registry
        )

    async def run_once(self, now: datetime | None = None) -> PassReport:
        moment = now or datetime.now(UTC)
        report = PassReport()
        storage = self.catalog.storage
        for user in await storage.list_children(keys.RECORDINGS_PREFIX):
            if not (user.isascii() and user.isdigit()):
                continue
            for recording_id in await self.catalog.recording_ids(int(user)):
                try:
                    await self._one(int(user), recording_id, moment, report)
                except LiteError as exc:
                    log.warning("lifecycle of recording %s: %s", recording_id, exc.message)
                except (ValueError, KeyError, TypeError):
                    log.exception("lifecycle of recording %s failed: skipped", recording_id)
        await self.leases.sweep("expire-", EXPIRY_LEASE_SECONDS)
        return report

    async def _one(self, user: int, recording_id: int, now: datetime, report: PassReport) -> None:
        try:
            manifest, _ = await self.catalog.load(user, recording_id)
        except ResourceNotFound:
            return  # deleted meanwhile
        if self.policy.expired(manifest, now):
            if await self.expire(manifest, now):
                report.expired.append(recording_id)
                self.expired.inc()
            return
        removed = await self.compactor.run(manifest, now)
        report.chunks_removed += removed
        self.compacted.inc(removed)

    async def expire(self, manifest: Manifest, now: datetime) -> bool:
        """Delete an expired recording under a lease; True when this call deleted it."""
        if not await self._idle(manifest):
            return False
        user, rec = manifest.user_id, manifest.id
        lease = await self.leases.acquire(f"expire-{user}-{rec}", EXPIRY_LEASE_SECONDS)
        if lease is None:
            return False  # another replica is on it
        try:
            try:
                fresh, _ = await self.catalog.load(user, rec)
            except ResourceNotFound:
                return False  # already deleted (by a replica that released its lease)
            if not self.policy.expired(fresh, now) or not await self._idle(fresh):
                return False
            if self.outbox is not None:
                await self.outbox.record_gone(fresh, EXPIRED_EVENT)
            await self.catalog.delete(user, rec)
            if self.outbox is not None:
                self.outbox.committed()
            log.info("recording %s of user %s expired and was deleted", rec, user)
            return True
        finally:
            await self.leases.release(lease)

    async def _idle(self, manifest: Manifest) -> bool:
        """Not receiving chunks: finished, and its session is not open."""
        if manifest.status == IN_PROGRESS:
            return False
        return await self.catalog.open_marker(manifest.session_uid) is None

    async def run_forever(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            try:
                report = await self.run_once()
            except Exception:  # one bad pass must not end retention; the next one retries
                log.exception("lifecycle pass failed")
                continue
            if report.expired or report.chunks_removed:
                log.info(
                    "lifecycle pass: %d recordings expired, %d chunks compacted",
                    len(report.expired),
                    report.chunks_removed,
                )
