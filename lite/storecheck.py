"""`vexa-lite verify`: walk a store and check what it says about itself.

Every chunk against its recorded sha256, every finished master against its manifest (size,
sha256); orphans: chunks or masters without a manifest, open-session markers of sessions that are
over or gone, manifests no session index leads to (ghosts), temp files of interrupted writes.
Repair does only what is safe: rebuild a master from intact chunks, remove stale markers and old
temp files. A damaged chunk or an orphan is reported and left for a person to decide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import anyio.to_thread

from lite import keys
from lite.catalog import OPEN_PREFIX, Catalog
from lite.chunks import content_digest
from lite.errors import LiteError, NotFound
from lite.ingest import IngestService
from lite.manifest import COMPLETED, IN_PROGRESS, Manifest
from lite.storage.base import LeftoverSweeper, ObjectInfo, Storage, read_all

SHA256 = "sha256"
TEMP_PREFIX = ".tmp-"
TEMP_AGE = timedelta(minutes=10)  # no write keeps a temp file open that long


@dataclass
class Finding:
    kind: str  # chunk_damaged, master_damaged, manifest_unreadable, orphan, ghost, ...
    key: str
    detail: str
    repairable: bool = False
    repaired: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "key": self.key,
            "detail": self.detail,
            "repairable": self.repairable,
            "repaired": self.repaired,
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    chunks: int = 0
    masters: int = 0
    recordings: int = 0

    @property
    def remaining(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]


class StoreCheck:
    def __init__(self, storage: Storage, repair: bool = False, now: datetime | None = None) -> None:
        self.storage = storage
        self.repair = repair
        self.now = now or datetime.now(UTC)
        self.catalog = Catalog(storage)
        self.ingest = IngestService(storage, self.catalog, 2**63)
        self.report = Report()

    async def run(self) -> Report:
        for user in await self.storage.list_children(keys.RECORDINGS_PREFIX):
            if user.isdigit():
                for rec in await self.storage.list_children(f"{keys.RECORDINGS_PREFIX}{user}/"):
                    await self._recording(int(user), rec)
        await self._markers()
        await self._temp_files()
        return self.report

    def _add(self, finding: Finding) -> Finding:
        self.report.findings.append(finding)
        return finding

    async def _recording(self, user: int, rec: str) -> None:
        prefix = f"{keys.RECORDINGS_PREFIX}{user}/{rec}/"
        objects = [info async for info in self.storage.list(prefix)]
        manifest_key = prefix + "recording.json"
        if not any(info.key == manifest_key for info in objects):
            self._add(Finding("orphan", prefix, f"{len(objects)} objects without a manifest"))
            return
        self.report.recordings += 1
        try:
            manifest = Manifest.from_json(await read_all(self.storage, manifest_key))
        except (ValueError, KeyError, TypeError) as exc:
            self._add(Finding("manifest_unreadable", manifest_key, f"not a manifest: {exc}"))
            return
        damaged = await self._chunks(manifest, prefix, objects)
        await self._masters(manifest, damaged)
        await self._ghost(manifest, manifest_key)

    async def _chunks(self, manifest: Manifest, prefix: str, objects: list[ObjectInfo]) -> bool:
        """Check every chunk's bytes; True when one of them is damaged."""
        damaged = False
        for info in objects:
            parts = info.key[len(prefix) :].split("/")
            if len(parts) != 4 or parts[2] != "chunks" or keys.parse_chunk_name(parts[3]) is None:
                continue
            self.report.chunks += 1
            recorded = (await self.storage.stat(info.key)).metadata.get(SHA256)
            actual, _ = await content_digest(self.storage, info.key)
            if recorded and recorded != actual:
                damaged = True
                self._add(
                    Finding("chunk_damaged", info.key, f"sha256 {actual}, recorded {recorded}")
                )
        return damaged

    async def _masters(self, manifest: Manifest, chunks_damaged: bool) -> None:
        for state in manifest.media.values():
            if state.status != COMPLETED or not state.format:
                continue
            self.report.masters += 1
            key = keys.master_key(
                manifest.user_id, manifest.id, manifest.session_uid, state.media_type, state.format
            )
            problem = await self._master_problem(key, state.size, state.sha256)
            if problem is None:
                continue
            if state.compacted_at:
                problem += "; its chunks were compacted away, so it cannot be rebuilt"
            repairable = not chunks_damaged and not state.compacted_at
            finding = self._add(Finding("master_damaged", key, problem, repairable))
            if self.repair and finding.repairable:
                await self._rebuild(manifest, finding)

    async def _master_problem(self, key: str, size: int | None, sha256: str | None) -> str | None:
        try:
            actual, info = await content_digest(self.storage, key)
        except NotFound:
            return "missing"
        if size is not None and info.size != size:
            return f"{info.size} bytes, manifest says {size}"
        if sha256 and actual != sha256:
            return f"sha256 {actual}, manifest says {sha256}"
        return None

    async def _rebuild(self, manifest: Manifest, finding: Finding) -> None:
        index = await self.catalog.session(manifest.session_uid)
        if index is None or index.recording_id != manifest.id:
            finding.detail += "; no session index to rebuild from"
            return
        try:
            rebuilt = await self.ingest.finalize(index)
        except LiteError as exc:
            finding.detail += f"; rebuild failed: {exc.message}"
            return
        state = next(
            (s for s in rebuilt.media.values() if finding.key.endswith(f".{s.format}")), None
        )
        if state and await self._master_problem(finding.key, state.size, state.sha256) is None:
            finding.repaired = "rebuilt from its chunks"

    async def _ghost(self, manifest: Manifest, manifest_key: str) -> None:
        index = await self.catalog.session(manifest.session_uid)
        if index is None or index.recording_id != manifest.id:
            self._add(Finding("ghost", manifest_key, "no session index leads to this recording"))

    async def _markers(self) -> None:
        async for info in self.storage.list(OPEN_PREFIX):
            uid = info.key[len(OPEN_PREFIX) :]
            why = await self._stale_marker(uid)
            if why is None:
                continue
            finding = self._add(Finding("stale_marker", info.key, why, repairable=True))
            if self.repair:
                await self.catalog.mark_closed(uid)
                finding.repaired = "removed"

    async def _stale_marker(self, uid: str) -> str | None:
        index = await self.catalog.session(uid)
        if index is None:
            return "its session index is gone"
        try:
            manifest = Manifest.from_json(
                await read_all(self.storage, keys.manifest_key(index.user_id, index.recording_id))
            )
        except NotFound:
            return "its recording is gone"
        except (ValueError, KeyError, TypeError):
            return None  # the manifest itself is reported
        return None if manifest.status == IN_PROGRESS else f"the session is {manifest.status}"

    async def _temp_files(self) -> None:
        root = getattr(self.storage, "root", None)
        if not isinstance(root, str):
            return  # S3 puts are atomic; unfinished uploads are a bucket lifecycle rule's job
        before = self.now - TEMP_AGE
        old = await anyio.to_thread.run_sync(_old_temp_files, root, before)
        for name in old:
            self._add(Finding("temp_file", name, "left by an interrupted write", True))
        if self.repair and old and isinstance(self.storage, LeftoverSweeper):
            await self.storage.sweep_leftovers(before)
            left = set(await anyio.to_thread.run_sync(_old_temp_files, root, before))
            for finding in self.report.findings:
                if finding.kind == "temp_file" and finding.key not in left:
                    finding.repaired = "removed"


def _old_temp_files(root: str, before: datetime) -> list[str]:
    return [os.path.relpath(path, root) for path in _temp_paths(root) if _mtime(path) < before]


def _temp_paths(root: str) -> list[str]:
    found = []
    for directory, _, names in os.walk(root):
        found += [os.path.join(directory, n) for n in names if n.startswith(TEMP_PREFIX)]
    return found


def _mtime(path: str) -> datetime:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except FileNotFoundError:
        return datetime.max.replace(tzinfo=UTC)
