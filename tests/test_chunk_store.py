"""What counts as a stored chunk: its object's size and the digest of its bytes, never the digest
its metadata claims. A damaged object (empty or cut short by an outage or a crash) under a chunk's
key is replaced by the retry, not answered as a duplicate. Also: the session-index cache checked
against the store, and bounded missing-seq lists."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest

from lite import keys
from lite.catalog import Catalog
from lite.chunks import ChunkObject, missing_count, missing_seqs
from lite.errors import ChecksumMismatch, Conflict, InvalidKey, PayloadTooLarge
from lite.ingest import ChunkIn, IngestService, Received, Uploader
from lite.storage.base import ObjectInfo, Storage, iter_bytes, read_all
from tests.ingestkit import new_uid, new_user, sha, wav_chunks

pytestmark = pytest.mark.anyio


def service(store: Storage) -> IngestService:
    return IngestService(store, Catalog(store), 64 * 1024 * 1024)


async def send(ingest: IngestService, user: int, uid: str, seq: int, data: bytes) -> Received:
    chunk = ChunkIn(uid, "audio", seq, "wav", iter_bytes(data))
    return await ingest.receive(Uploader(user), chunk, source="test")


async def chunk_key(ingest: IngestService, uid: str, seq: int) -> str:
    index = await ingest.catalog.session(uid)
    assert index is not None
    return keys.chunk_key(index.user_id, index.recording_id, uid, "audio", seq, "wav")


@pytest.mark.parametrize("damage", ["empty", "cut short"])
async def test_a_damaged_copy_is_replaced_not_answered_as_duplicate(
    store: Storage, damage: str
) -> None:
    ingest, user, uid = service(store), new_user(), new_uid()
    first, second = wav_chunks(2, seed=3)
    await send(ingest, user, uid, 0, first)
    key = await chunk_key(ingest, uid, 1)
    # What an outage left: the real chunk's digest in metadata over missing bytes.
    stored = b"" if damage == "empty" else second[: len(second) // 2]
    await store.put(key, iter_bytes(stored), lambda: {"sha256": sha(second)})

    result = await send(ingest, user, uid, 1, second)

    assert result.duplicate is False
    assert await read_all(store, key) == second
    again = await send(ingest, user, uid, 1, second)
    assert again.duplicate is True


async def test_another_intact_chunk_under_the_seq_is_a_conflict(store: Storage) -> None:
    ingest, user, uid = service(store), new_user(), new_uid()
    first, other = wav_chunks(2, seed=4)
    await send(ingest, user, uid, 0, first)

    with pytest.raises(Conflict):
        await send(ingest, user, uid, 0, other)

    assert await read_all(store, await chunk_key(ingest, uid, 0)) == first


async def test_a_cached_session_index_replaced_elsewhere_is_not_used(store: Storage) -> None:
    """Replica B deletes the recording and the uid is claimed again by another user; replica
    A's cached index must not send the new owner's chunks to the old recording."""
    a, b = service(store), service(store)
    uid, old_owner, new_owner = new_uid(), new_user(), new_user()
    chunk = wav_chunks(1, seed=5)[0]
    await send(a, old_owner, uid, 0, chunk)
    old = await a.catalog.session(uid)
    assert old is not None
    await b.catalog.delete(old_owner, old.recording_id)
    await send(b, new_owner, uid, 0, chunk)

    result = await send(a, new_owner, uid, 1, chunk)

    fresh = await a.catalog.session(uid)
    assert fresh is not None and fresh.user_id == new_owner
    assert result.session.recording_id == fresh.recording_id != old.recording_id


def chunk_objects(seqs: list[int]) -> list[ChunkObject]:
    info = ObjectInfo("k", 1, "e", datetime.now(UTC))
    return [ChunkObject(seq, "wav", info) for seq in seqs]


@pytest.mark.parametrize(
    ("present", "final", "missing", "count"),
    [
        ([], None, [], 0),
        ([0, 1, 2], None, [], 0),
        ([0, 2, 5], None, [1, 3, 4], 3),
        ([1], 3, [0, 2, 3], 3),
        ([0], 9_999_999_999, list(range(1, 1001)), 9_999_999_999),
        ([0, 9_999_999_999], None, list(range(1, 1001)), 9_999_999_998),
    ],
)
def test_missing_seqs_are_bounded(
    present: list[int], final: int | None, missing: list[int], count: int
) -> None:
    chunks = chunk_objects(present)
    assert missing_seqs(chunks, final) == missing
    assert missing_count(chunks, final) == count


@pytest.mark.parametrize("refusal", ["digest", "seq", "size"])
async def test_a_refused_first_chunk_creates_no_recording(store: Storage, refusal: str) -> None:
    ingest, user, uid = service(store), new_user(), new_uid()
    ingest.max_chunk_bytes = 4096
    data = wav_chunks(1, seed=6)[0]
    chunk = ChunkIn(
        uid,
        "audio",
        keys.MAX_SEQ + 1 if refusal == "seq" else 0,
        "wav",
        iter_bytes(data + b"\0" * 5000 if refusal == "size" else data),
        declared_sha256=sha(b"other") if refusal == "digest" else None,
    )

    with pytest.raises((ChecksumMismatch, InvalidKey, PayloadTooLarge)):
        await ingest.receive(Uploader(user), chunk, source="test")

    assert await ingest.catalog.session(uid) is None
    assert await ingest.catalog.recording_ids(user) == []


async def test_racing_finalizers_leave_the_stored_master_named(store: Storage) -> None:
    """Two replicas each get the final chunk and a finalize call for the same sessions at once:
    every manifest must name the master that is stored (else playback answers 503 for good)."""
    a, b = service(store), service(store)
    user = new_user()
    uids = [new_uid() for _ in range(6)]
    for n, uid in enumerate(uids):
        for seq, data in enumerate(wav_chunks(3, seed=40 + 3 * n)):
            await send(a, user, uid, seq, data)

    async def finish(ingest: IngestService, uid: str) -> None:
        index = await ingest.catalog.session(uid)
        assert index is not None
        final = ChunkIn(uid, "audio", 3, "wav", iter_bytes(b""), is_final=True)
        await ingest.receive(Uploader(user), final, source="test")
        await ingest.finalize(index)

    async with anyio.create_task_group() as group:
        for uid in uids:
            for ingest in (a, b, a, b):
                group.start_soon(finish, ingest, uid)

    for uid in uids:
        index = await a.catalog.session(uid)
        assert index is not None
        manifest, _ = await a.catalog.load(user, index.recording_id)
        state = manifest.media["audio"]
        master = keys.master_key(user, index.recording_id, uid, "audio", "wav")
        assert manifest.status == "completed"
        assert (await store.stat(master)).etag == state.master_etag
