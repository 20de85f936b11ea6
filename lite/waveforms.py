"""Waveform peaks of finished media files: made once in the background after finalize, stored
beside the master (`<master>.peaks.json`), remade when the master is rebuilt.

The stored peaks name the master they were made from (its sha256 in the object's metadata);
peaks of an older master are never served.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from lite import keys
from lite.errors import MediaUnplayable, NotFound, StaleMedia
from lite.manifest import COMPLETED, Manifest, MediaState
from lite.recordings import Recordings
from lite.storage.base import Storage, iter_bytes, read_all
from lite.storagefile import open_stored

if TYPE_CHECKING:
    from lite.decode import Frames

log = logging.getLogger("lite.waveforms")
MASTER_SHA256 = "master_sha256"


class Waveforms:
    def __init__(self, storage: Storage, recordings: Recordings) -> None:
        self.storage = storage
        self.recordings = recordings
        self._running: dict[str, asyncio.Task[bytes]] = {}
        self._one_at_a_time = anyio.Semaphore(1)  # decoding is CPU work: keep cores for ingest

    def schedule(self, manifest: Manifest, state: MediaState) -> None:
        """After finalize: start making the peaks, without waiting for them."""
        if state.status == COMPLETED and state.format:
            self._task(manifest, state)

    async def get(self, user_id: int, recording_id: int, media_id: int) -> bytes:
        """The peaks JSON of a finished media file (made now if the background has not yet)."""
        # Fresh: a cached manifest could name a master that a late chunk has since replaced.
        manifest, state = await self.recordings.media_state(
            user_id, recording_id, media_id, fresh=True
        )
        if state.status != COMPLETED or not state.format:
            raise MediaUnplayable("peaks are made once the media file is finalized")
        key = _key(manifest, state)
        try:
            info = await self.storage.stat(key)
            if info.metadata.get(MASTER_SHA256) == state.sha256:
                return await read_all(self.storage, key)
        except NotFound:
            pass
        return await asyncio.shield(self._task(manifest, state))

    async def aclose(self) -> None:
        """On shutdown: stop the peaks still being made (they are made again when asked)."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _task(self, manifest: Manifest, state: MediaState) -> asyncio.Task[bytes]:
        name = f"{_key(manifest, state)}@{state.sha256}"
        task = self._running.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._make(manifest, state))
            self._running[name] = task
            task.add_done_callback(lambda done: self._finished(name, done))
        return task

    def _finished(self, name: str, task: asyncio.Task[bytes]) -> None:
        self._running.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("waveform peaks for %s failed: %s", name, task.exception())

    async def _make(self, manifest: Manifest, state: MediaState) -> bytes:
        assert state.format is not None and state.size is not None
        master = keys.master_key(
            manifest.user_id, manifest.id, manifest.session_uid, state.media_type, state.format
        )
        # numpy and PyAV cost about half a second of start-up: loaded with the first peaks.
        from lite import peaks
        from lite.decode import decode_s16

        builders: list[peaks.PeakBuilder] = []

        def sink(rate: int, channels: int) -> Callable[[Frames], None]:
            per_pixel = peaks.samples_per_pixel(rate, state.duration_seconds)
            builders.append(peaks.PeakBuilder(rate, channels, per_pixel))
            return builders[0].feed

        def work() -> bytes:
            with open_stored(self.storage, master, state.size or 0, state.master_etag) as file:
                decode_s16(file, sink)
            return peaks.to_json(builders[0].finish())

        async with self._one_at_a_time:
            try:
                # Abandoned on cancel: the decoding thread then fails at its next storage read.
                data = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
            except StaleMedia:
                raise MediaUnplayable("the media file was rebuilt; ask again") from None
        digest = hashlib.sha256(data).hexdigest()
        meta = {"sha256": digest, MASTER_SHA256: state.sha256 or ""}
        key = _key(manifest, state)
        await self.storage.put(key, iter_bytes(data), lambda: meta)
        if not await self._master_there(master, state):
            await self.storage.delete(key)  # the recording was deleted meanwhile: leave nothing
        return data

    async def _master_there(self, master: str, state: MediaState) -> bool:
        try:
            info = await self.storage.stat(master)
        except NotFound:
            return False
        return not state.master_etag or info.etag == state.master_etag


def _key(manifest: Manifest, state: MediaState) -> str:
    assert state.format is not None
    return keys.peaks_key(
        manifest.user_id, manifest.id, manifest.session_uid, state.media_type, state.format
    )
