"""Chunk compaction on local disk and SeaweedFS: chunks go once the master is final and checked,
the master stays byte for byte, and a late chunk is refused (the recording is sealed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lite import keys, render
from lite.errors import Sealed
from lite.ingest import ChunkIn, Uploader
from lite.manifest import SessionIndex
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import new_user, wav_chunks, wav_master
from tests.lifecyclekit import Replica
from tests.stores import Store, StoreView

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=["local", "seaweedfs"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backends of conftest's `store` for this module."""
    return str(request.param)


@pytest.fixture
def view(module_store: Store) -> StoreView:
    return module_store.view


def master_of(index: SessionIndex) -> str:
    return keys.master_key(index.user_id, index.recording_id, index.session_uid, "audio", "wav")


async def late_chunk(replica: Replica, index: SessionIndex, seq: int) -> None:
    data = wav_chunks(1, seed=99)[0]
    chunk = ChunkIn(index.session_uid, "audio", seq, "wav", iter_bytes(data))
    await replica.ingest.receive(Uploader(index.user_id), chunk, source="test")


async def test_chunks_removed_master_unchanged_late_chunk_refused(
    store: Storage, view: StoreView
) -> None:
    replica = Replica(store, keep_hours=0)
    chunks = wav_chunks(4)
    index = await replica.record(new_user(), chunks)
    prefix = keys.recording_prefix(index.user_id, index.recording_id)
    before = await view.read(master_of(index))
    assert before == wav_master(chunks)
    shown_before = render.recording(await replica.recordings.get(index.user_id, index.recording_id))

    report = await replica.lifecycle.run_once()
    assert report.chunks_removed >= 4
    left = await view.keys(prefix)
    assert left == sorted([master_of(index), keys.manifest_key(index.user_id, index.recording_id)])
    assert await view.read(master_of(index)) == before

    shown = render.recording(await replica.recordings.get(index.user_id, index.recording_id))
    media = shown["media_files"][0]
    assert media["compacted_at"] is not None
    for fact in ("chunk_count", "missing_chunks", "sha256", "file_size_bytes", "status"):
        assert media[fact] == shown_before["media_files"][0][fact]

    with pytest.raises(Sealed, match="sealed"):
        await late_chunk(replica, index, 4)
    with pytest.raises(Sealed):
        await late_chunk(replica, index, 1)  # a seq it once had, now gone
    assert await view.keys(prefix) == left  # the refused chunks left nothing behind

    await replica.ingest.finalize(index)  # nothing rebuilds from the (absent) chunks
    assert await view.read(master_of(index)) == before
    assert (
        render.recording(await replica.recordings.get(index.user_id, index.recording_id)) == shown
    )


async def test_keep_time_and_settle_time_are_honoured(store: Storage, view: StoreView) -> None:
    replica = Replica(store, keep_hours=2, settle_seconds=60)
    index = await replica.record(new_user())
    chunk_prefix = keys.chunk_prefix(index.user_id, index.recording_id, index.session_uid, "audio")
    now = datetime.now(UTC)
    await replica.lifecycle.run_once(now + timedelta(hours=1))
    assert len(await view.keys(chunk_prefix)) == 3  # kept: younger than the keep time

    await replica.lifecycle.run_once(now + timedelta(hours=2, seconds=1))
    assert len(await view.keys(chunk_prefix)) == 3  # sealed, not yet settled
    with pytest.raises(Sealed):
        await late_chunk(replica, index, 3)  # but sealed: late chunks are refused
    assert len(await view.keys(chunk_prefix)) == 3

    report = await replica.lifecycle.run_once(datetime.now(UTC) + timedelta(hours=3))
    assert report.chunks_removed >= 3
    assert await view.keys(chunk_prefix) == []


async def test_minus_one_keeps_chunks(store: Storage, view: StoreView) -> None:
    replica = Replica(store, keep_hours=-1)
    index = await replica.record(new_user())
    chunk_prefix = keys.chunk_prefix(index.user_id, index.recording_id, index.session_uid, "audio")
    await replica.lifecycle.run_once(datetime.now(UTC) + timedelta(days=365))
    assert len(await view.keys(chunk_prefix)) == 3
    await late_chunk(replica, index, 3)  # not sealed: a late chunk still rebuilds the master
    assert len(await view.keys(chunk_prefix)) == 4


async def test_a_damaged_master_keeps_its_chunks(store: Storage, view: StoreView) -> None:
    replica = Replica(store, keep_hours=0)
    index = await replica.record(new_user())
    await store.put(master_of(index), iter_bytes(b"RIFF damaged"))
    await replica.lifecycle.run_once()
    chunk_prefix = keys.chunk_prefix(index.user_id, index.recording_id, index.session_uid, "audio")
    assert len(await view.keys(chunk_prefix)) == 3
    manifest, _ = await replica.catalog.load(index.user_id, index.recording_id)
    assert manifest.media["audio"].sealed_at is None  # not sealed: a rebuild may replace it
    await replica.ingest.finalize(index)
    assert await view.read(master_of(index)) == wav_master(wav_chunks(3))


async def test_unfinished_and_failed_media_keep_their_chunks(
    store: Storage, view: StoreView
) -> None:
    replica = Replica(store, keep_hours=0)
    user = new_user()
    open_one = await replica.record(user, final=False)
    mismatched = wav_chunks(1, rate=16000) + wav_chunks(1, rate=8000, seed=5)
    failed = await replica.record(user, mismatched)  # WAV formats that cannot be joined
    shown = await replica.recordings.get(user, failed.recording_id)
    assert shown.manifest.status == "failed"
    await replica.lifecycle.run_once(datetime.now(UTC) + timedelta(days=1))
    for index in (open_one, failed):
        prefix = keys.chunk_prefix(index.user_id, index.recording_id, index.session_uid, "audio")
        assert await view.keys(prefix)
