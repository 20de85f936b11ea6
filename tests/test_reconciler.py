"""The reconciler: sessions whose bot went silent are finalized after the idle time.

Service-level tests pass `now` explicitly, so no test waits for real idle time; the wire test runs
a real server with a one-second idle time and a one-second interval.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from lite.catalog import OPEN_PREFIX, Catalog
from lite.ingest import ChunkIn, IngestService, Uploader
from lite.keys import manifest_key, session_index_key
from lite.manifest import Manifest, SessionIndex, now_iso
from lite.reconciler import Reconciler
from lite.recordings import Recordings
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import (
    VexaBot,
    api_key,
    app_env,
    eventually,
    new_uid,
    new_user,
    wav_chunks,
    wav_master,
)
from tests.mediafiles import make_webm
from tests.servers import app_server
from tests.stores import StoreView, new_store

pytestmark = pytest.mark.anyio

IDLE = 600


class Replica:
    """What one app process holds: its own catalog (and caches), ingest and reconciler."""

    def __init__(self, storage: Storage) -> None:
        self.catalog = Catalog(storage)
        self.ingest = IngestService(storage, self.catalog, 64 * 1024 * 1024)
        self.reconciler = Reconciler(self.catalog, self.ingest, IDLE)
        self.recordings = Recordings(storage, self.catalog)


async def send(replica: Replica, user: int, uid: str, chunks: list[bytes]) -> Any:
    for seq, data in enumerate(chunks):
        chunk = ChunkIn(uid, "audio", seq, "wav", iter_bytes(data))
        await replica.ingest.receive(Uploader(user), chunk, source="test")
    index = await replica.catalog.session(uid)
    assert index is not None
    return index


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def manifest_of(replica: Replica, index: Any) -> Manifest:
    manifest, _ = await replica.catalog.load(index.user_id, index.recording_id)
    return manifest


async def test_a_silent_session_is_completed_after_the_idle_time(store: Storage) -> None:
    replica, user, uid = Replica(store), new_user(), new_uid()
    chunks = wav_chunks(4)
    index = await send(replica, user, uid, chunks)

    assert uid in await replica.reconciler.run_once(later(IDLE + 5))

    manifest = await manifest_of(replica, index)
    assert manifest.status == "completed"
    assert manifest.media["audio"].chunk_count == 4
    master = f"recordings/{user}/{index.recording_id}/{uid}.wav"
    reader = await store.open_range(master)
    try:
        assert b"".join([b async for b in reader]) == wav_master(chunks)
    finally:
        await reader.aclose()
    assert uid not in await replica.catalog.open_sessions()


async def test_a_session_with_recent_chunks_is_left_open(store: Storage) -> None:
    replica, user, uid = Replica(store), new_user(), new_uid()
    index = await send(replica, user, uid, wav_chunks(2))

    assert uid not in await replica.reconciler.run_once(later(IDLE - 60))

    assert (await manifest_of(replica, index)).status == "in_progress"
    assert uid in await replica.catalog.open_sessions()


async def test_idle_time_counts_from_the_newest_chunk(store: Storage) -> None:
    replica, user, uid = Replica(store), new_user(), new_uid()
    index = await send(replica, user, uid, wav_chunks(2))
    newest = await replica.reconciler.last_activity(index)
    created = datetime.fromisoformat(index.created_at.replace("Z", "+00:00"))
    assert created - timedelta(seconds=1) <= newest <= datetime.now(UTC) + timedelta(seconds=1)

    assert uid not in await replica.reconciler.run_once(newest + timedelta(seconds=IDLE - 2))
    assert uid in await replica.reconciler.run_once(newest + timedelta(seconds=IDLE + 2))


async def test_a_session_that_never_got_a_chunk_fails_with_a_reason(store: Storage) -> None:
    replica, user = Replica(store), new_user()
    index = await replica.recordings.create(user, "m-9", None)

    assert index.session_uid in await replica.reconciler.run_once(later(IDLE + 5))

    manifest = await manifest_of(replica, index)
    assert manifest.status == "failed"
    assert "no media" in (manifest.error_message or "")


async def test_a_finished_session_is_not_reconciled_again(store: Storage) -> None:
    replica, user, uid = Replica(store), new_user(), new_uid()
    index = await send(replica, user, uid, wav_chunks(2))
    final = ChunkIn(uid, "audio", 2, "wav", iter_bytes(b""), is_final=True)
    await replica.ingest.receive(Uploader(user), final, source="test")
    before = await manifest_of(replica, index)

    assert uid not in await replica.catalog.open_sessions()
    assert uid not in await replica.reconciler.run_once(later(IDLE + 5))
    assert (await manifest_of(replica, index)).media["audio"].finalized_at == (
        before.media["audio"].finalized_at
    )


async def test_a_media_type_left_without_its_final_chunk_is_still_reconciled(
    store: Storage,
) -> None:
    # Audio finished with its final chunk; the bot crashed before the video's final chunk.
    replica, user, uid = Replica(store), new_user(), new_uid()
    index = await send(replica, user, uid, wav_chunks(2))
    webm = make_webm(0.5)
    for seq, data in enumerate([webm[:1000], webm[1000:]]):
        chunk = ChunkIn(uid, "video", seq, "webm", iter_bytes(data))
        await replica.ingest.receive(Uploader(user), chunk, source="test")
    final = ChunkIn(uid, "audio", 2, "wav", iter_bytes(b""), is_final=True)
    await replica.ingest.receive(Uploader(user), final, source="test")

    await replica.reconciler.run_once(later(IDLE + 5))

    manifest = await manifest_of(replica, index)
    assert sorted(manifest.media) == ["audio", "video"], manifest.media.keys()
    assert manifest.media["video"].status == "completed"
    assert manifest.status == "completed"


async def test_the_marker_of_a_vanished_session_is_dropped(store: Storage) -> None:
    replica, uid = Replica(store), new_uid()
    await store.put(OPEN_PREFIX + uid, iter_bytes(b"{}"))

    assert uid not in await replica.reconciler.run_once(later(IDLE + 5))

    assert uid not in await replica.catalog.open_sessions()


async def test_a_recording_left_by_a_crash_during_creation_is_removed(store: Storage) -> None:
    """Before the session index became the claim, a crash between writing the manifest and the
    index left a manifest nobody can reach; after the idle time the reconciler removes it."""
    replica, user, uid = Replica(store), new_user(), new_uid()
    claimed = SessionIndex(uid, user, 4242, None, "test", now_iso())
    await store.put(manifest_key(user, 4242), iter_bytes(claimed.new_manifest().to_json()))
    await replica.catalog.mark_open(claimed)
    assert await replica.catalog.recording_ids(user) == [claimed.recording_id]

    assert uid not in await replica.reconciler.run_once(later(IDLE + 5))

    assert uid not in await replica.catalog.open_sessions()
    assert [info.key async for info in store.list(f"recordings/{user}/")] == []


async def test_a_ghost_of_an_older_crash_is_swept(store: Storage) -> None:
    """The same orphan without a marker (a second attempt's marker replaced it): the sweep
    finds it by its manifest."""
    replica, user, uid = Replica(store), new_user(), new_uid()
    claimed = SessionIndex(uid, user, 4243, None, "test", now_iso())
    await store.put(manifest_key(user, 4243), iter_bytes(claimed.new_manifest().to_json()))
    await send(replica, user, uid, wav_chunks(1))

    await replica.reconciler.run_once(later(1), sweep=True)
    assert 4243 in await replica.catalog.recording_ids(user)  # not idle yet
    await replica.reconciler.run_once(later(IDLE + 5), sweep=True)

    assert len(await replica.catalog.recording_ids(user)) == 1
    assert 4243 not in await replica.catalog.recording_ids(user)


async def test_a_claim_cut_short_before_its_manifest_is_completed(store: Storage) -> None:
    """A crash right after the session index (the claim) was written: the reconciler (or the
    bot's retry) writes the manifest, so the session keeps its one recording."""
    replica, user, uid = Replica(store), new_user(), new_uid()
    claimed = SessionIndex(uid, user, 4244, None, "test", now_iso())
    await store.put(session_index_key(uid), iter_bytes(claimed.to_json()))
    await replica.catalog.mark_open(claimed)

    await replica.reconciler.run_once(later(1))

    manifest, _ = await replica.catalog.load(user, 4244)
    assert manifest.session_uid == uid
    index = await send(replica, user, uid, wav_chunks(2))
    assert index.recording_id == 4244
    assert await replica.catalog.recording_ids(user) == [4244]


async def test_one_broken_session_does_not_stop_the_others(store: Storage) -> None:
    replica, user, uid = Replica(store), new_user(), new_uid()
    await send(replica, user, uid, wav_chunks(2))
    broken = new_uid()
    await store.put(session_index_key(broken), iter_bytes(b"{not json"))
    await store.put(OPEN_PREFIX + broken, iter_bytes(b"{}"))

    assert uid in await replica.reconciler.run_once(later(IDLE + 5))

    assert broken in await replica.catalog.open_sessions()
    await store.delete(session_index_key(broken))
    await store.delete(OPEN_PREFIX + broken)


async def test_replicas_reconciling_at_once_agree_on_one_master(store: Storage) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(6, seed=20)
    index = await send(Replica(store), user, uid, chunks)
    replicas = [Replica(store) for _ in range(3)]

    async with anyio.create_task_group() as group:
        for replica in replicas:
            group.start_soon(replica.reconciler.run_once, later(IDLE + 5))

    manifest = await manifest_of(replicas[0], index)
    assert manifest.status == "completed"
    audio = manifest.media["audio"]
    reader = await store.open_range(f"recordings/{user}/{index.recording_id}/{uid}.wav")
    try:
        master = b"".join([b async for b in reader])
    finally:
        await reader.aclose()
    assert master == wav_master(chunks)
    assert (audio.size, audio.chunk_count, audio.missing_chunks) == (len(master), 6, [])


# --- over the wire --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "seaweedfs"])
async def test_a_server_completes_a_session_whose_bot_went_silent(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with new_store(kind, tmp_path, request) as store:
        env = app_env(store.env, LITE_SESSION_IDLE_SECONDS="1", LITE_RECONCILE_INTERVAL_SECONDS="1")
        with app_server(env, tmp_path) as server:
            await silent_bot_is_reconciled(server.url, store.view)


async def silent_bot_is_reconciled(url: str, view: StoreView) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(5)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        bot = VexaBot(http, uid, user)
        answers = [await bot.send(seq, data) for seq, data in enumerate(chunks)]
        assert [a.status_code for a in answers] == [201] * 5
        recording_id = answers[0].json()["recording_id"]
        headers = {"X-API-Key": await api_key(http, user)}

        async def completed() -> dict[str, Any] | None:
            found = (await http.get(f"/recordings/{recording_id}", headers=headers)).json()
            return found if found["status"] != "in_progress" else None

        recording = await eventually(completed, within=20)

    assert recording["status"] == "completed"
    (audio,) = recording["media_files"]
    assert (audio["chunk_count"], audio["missing_chunks"]) == (5, [])
    assert await view.read(f"recordings/{user}/{recording_id}/{uid}.wav") == wav_master(chunks)
