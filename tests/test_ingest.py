"""The ingest service on every backend: chunks in, byte-exact masters out.

These drive `IngestService` directly on one store per backend (local disk, SeaweedFS, moto) shared
by the module: every test has its own user and session uids, so they cannot see each other. The
wire tests in `test_ingest_wire.py` cover the two HTTP doors in front of it.
"""

from __future__ import annotations

import functools
import hashlib
import random
import wave
from collections.abc import AsyncIterator
from io import BytesIO
from typing import Any

import anyio
import pytest

from lite import render
from lite.catalog import Catalog
from lite.errors import (
    ChecksumMismatch,
    Conflict,
    PayloadTooLarge,
    ResourceNotFound,
    UnsupportedMediaType,
)
from lite.ingest import ChunkIn, IngestService, Uploader
from lite.manifest import SessionIndex
from lite.recordings import Recordings
from lite.storage.base import Storage
from tests.ingestkit import (
    byte_slices,
    canonical_wav_header,
    new_uid,
    new_user,
    sha,
    wav_chunks,
    wav_master,
)
from tests.mediafiles import make_wav, make_webm, read_wav, webm_master

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


class Service:
    """Catalog, ingest and recordings on one store, as the app wires them.

    Session names given to its methods are made unique per test (the store is shared)."""

    def __init__(self, storage: Storage, max_chunk_bytes: int = 64 * MIB) -> None:
        self.storage = storage
        self.user = new_user()
        self.tag = new_uid()
        self.catalog = Catalog(storage)
        self.ingest = IngestService(storage, self.catalog, max_chunk_bytes)
        self.recordings = Recordings(storage, self.catalog)

    def replica(self) -> Service:
        """Another app process on the same store, for the same user and session names."""
        other = Service(self.storage)
        other.user, other.tag = self.user, self.tag
        return other

    def uid(self, name: str) -> str:
        return f"{name}-{self.tag}"

    async def send(
        self,
        name: str,
        seq: int,
        data: bytes,
        *,
        fmt: str = "wav",
        final: bool = False,
        declared: str | None = None,
        who: Uploader | None = None,
    ) -> dict[str, Any]:
        chunk = ChunkIn(self.uid(name), "audio", seq, fmt, pieces(data), declared, final)
        received = await self.ingest.receive(who or Uploader(self.user), chunk, source="test")
        return render.received(received)

    async def create(self, name: str) -> SessionIndex:
        return await self.recordings.create(self.user, None, self.uid(name))

    async def session(self, name: str) -> SessionIndex | None:
        return await self.catalog.session(self.uid(name))

    async def index(self, name: str) -> SessionIndex:
        found = await self.session(name)
        assert found is not None, f"no session index for {name}"
        return found

    async def recording(self, name: str) -> dict[str, Any]:
        index = await self.index(name)
        return render.recording(await self.recordings.get(index.user_id, index.recording_id))

    async def audio(self, name: str) -> dict[str, Any]:
        media: list[dict[str, Any]] = (await self.recording(name))["media_files"]
        files = [m for m in media if m["type"] == "audio"]
        assert len(files) == 1, files
        return files[0]

    async def chunk_objects(self, name: str) -> list[str]:
        index = await self.index(name)
        prefix = f"recordings/{self.user}/{index.recording_id}/{index.session_uid}/audio/chunks/"
        return [info.key async for info in self.storage.list(prefix)]

    async def master(self, name: str, ext: str = "wav") -> bytes:
        index = await self.index(name)
        key = f"recordings/{self.user}/{index.recording_id}/{index.session_uid}.{ext}"
        return await read(self.storage, key)


async def pieces(data: bytes, size: int = 7_001) -> AsyncIterator[bytes]:
    """A request body as it arrives: pieces of an uneven size."""
    for pos in range(0, len(data), size):
        yield data[pos : pos + size]


async def read(storage: Storage, key: str) -> bytes:
    reader = await storage.open_range(key)
    try:
        return b"".join([block async for block in reader])
    finally:
        await reader.aclose()


@functools.cache
def webm_file() -> bytes:
    return make_webm(3.0)


@pytest.fixture
def service(store: Storage) -> Service:
    return Service(store)


# --- complete sessions ----------------------------------------------------------------------------


async def test_chunks_then_an_empty_final_chunk_make_a_byte_exact_wav_master(
    service: Service,
) -> None:
    chunks = wav_chunks(20)
    for seq, data in enumerate(chunks):
        answer = await service.send("bot1", seq, data)
        assert answer["status"] == "in_progress" and not answer["duplicate"], seq
    answer = await service.send("bot1", 20, b"", final=True)
    assert answer["status"] == "completed"

    master = await service.master("bot1")
    assert master == wav_master(chunks)
    params, frames = read_wav(master)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 16000)
    assert frames == b"".join(read_wav(c)[1] for c in chunks)
    audio = await service.audio("bot1")
    assert audio["status"] == "completed"
    assert audio["file_size_bytes"] == len(master)
    assert audio["sha256"] == sha(master)
    assert audio["duration_seconds"] == pytest.approx(20 * 0.05)
    assert audio["missing_chunks"] == []
    assert audio["chunk_count"] == 21  # twenty with samples and the empty final marker


async def test_webm_byte_slices_become_one_seekable_master(service: Service) -> None:
    original = webm_file()
    slices = byte_slices(original, 20)
    for seq, data in enumerate(slices):
        await service.send("web1", seq, data, fmt="webm")
    answer = await service.send("web1", 20, b"", fmt="webm", final=True)

    assert answer["status"] == "completed"
    assert await service.master("web1", "webm") == webm_master(original)
    audio = await service.audio("web1")
    assert (audio["format"], audio["content_type"]) == ("webm", "audio/webm")
    assert audio["sha256"] == sha(webm_master(original))
    assert audio["problems"] == []
    assert audio["duration_seconds"] == pytest.approx(3.0, abs=0.1)  # from block timecodes


async def test_a_webm_whose_first_chunk_lacks_the_ebml_header_is_reported(
    service: Service,
) -> None:
    slices = byte_slices(webm_file(), 4)
    with pytest.raises(UnsupportedMediaType):  # seq 0 must start the file: refused at the door
        await service.send("web2", 0, slices[1], fmt="webm")
    for seq, data in enumerate(slices[1:], start=1):  # continuations are not checked
        await service.send("web2", seq, data, fmt="webm")
    await service.send("web2", 4, b"", fmt="webm", final=True)
    await service.ingest.finalize(await service.index("web2"))

    recording = await service.recording("web2")
    (audio,) = recording["media_files"]
    assert recording["status"] == "failed"
    assert any("EBML" in p for p in audio["problems"]), audio["problems"]


async def test_an_empty_final_chunk_in_another_format_adds_nothing(service: Service) -> None:
    # Empty chunks add nothing (§6): a marker sent with the door's default format must not make
    # a WebM session "mixed formats".
    original = webm_file()
    for seq, data in enumerate(byte_slices(original, 3)):
        await service.send("web3", seq, data, fmt="webm")
    answer = await service.send("web3", 3, b"", fmt="wav", final=True)

    assert answer["status"] == "completed", (await service.recording("web3"))["error_message"]
    assert await service.master("web3", "webm") == webm_master(original)


async def test_finalize_without_any_chunk_fails_with_a_reason(service: Service) -> None:
    index = await service.create("empty1")
    manifest = await service.ingest.finalize(index)
    assert manifest.status == "failed"
    assert "no media" in (manifest.error_message or "")


# --- idempotency and conflicts --------------------------------------------------------------------


async def test_resending_every_chunk_with_the_same_bytes_is_a_duplicate_counted_once(
    service: Service,
) -> None:
    chunks = wav_chunks(5)
    for seq, data in enumerate(chunks):
        await service.send("dup1", seq, data)
    await service.send("dup1", 5, b"", final=True)
    before = await service.audio("dup1")

    for seq, data in enumerate(chunks):
        answer = await service.send("dup1", seq, data)
        assert answer["duplicate"] is True, seq
        assert answer["sha256"] == sha(data)
    answer = await service.send("dup1", 5, b"", final=True)

    assert answer["duplicate"] is True
    after = await service.audio("dup1")
    assert after["chunk_count"] == before["chunk_count"] == 6
    assert after["sha256"] == before["sha256"]
    assert len(await service.chunk_objects("dup1")) == 6


async def test_different_bytes_for_a_stored_seq_conflict_with_the_stored_sha256(
    service: Service,
) -> None:
    first, other = make_wav(0.05, seed=1), make_wav(0.05, seed=2)
    await service.send("dup2", 0, first)

    with pytest.raises(Conflict) as caught:
        await service.send("dup2", 0, other)

    assert caught.value.details["stored_sha256"] == sha(first)
    (key,) = await service.chunk_objects("dup2")
    assert await read(service.storage, key) == first


async def test_the_same_seq_in_another_format_conflicts(service: Service) -> None:
    # A chunk is identified by (session, media type, seq), whatever its format.
    await service.send("dup3", 0, make_wav(0.05))

    with pytest.raises(Conflict):
        await service.send("dup3", 0, webm_file()[:1000], fmt="webm")

    assert len(await service.chunk_objects("dup3")) == 1


async def test_a_wrong_declared_sha256_is_refused_and_nothing_is_stored(service: Service) -> None:
    await service.send("sum1", 0, make_wav(0.05, seed=0))
    data = make_wav(0.05, seed=1)

    with pytest.raises(ChecksumMismatch):
        await service.send("sum1", 1, data, declared=sha(b"something else"))

    assert len(await service.chunk_objects("sum1")) == 1


@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["lowercase", "uppercase"])
async def test_a_matching_declared_sha256_is_accepted(service: Service, case: Any) -> None:
    data = make_wav(0.05)
    answer = await service.send("sum2", 0, data, declared=case(sha(data)))
    assert answer["sha256"] == sha(data) and not answer["duplicate"]


async def test_an_oversized_chunk_is_refused_and_nothing_is_stored(store: Storage) -> None:
    small = Service(store, max_chunk_bytes=10_000)
    await small.send("big1", 0, make_wav(0.1))  # 3,244 bytes

    with pytest.raises(PayloadTooLarge):
        await small.send("big1", 1, make_wav(0.5))  # 16,044 bytes

    assert len(await small.chunk_objects("big1")) == 1


async def test_concurrent_uploads_of_one_seq_store_it_once(service: Service) -> None:
    data = make_wav(0.05)
    answers: list[dict[str, Any]] = []

    async def one() -> None:
        answers.append(await service.send("race1", 0, data))

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(one)

    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 7
    assert len({a["recording_id"] for a in answers}) == 1
    assert len(await service.chunk_objects("race1")) == 1


async def test_a_chunk_bigger_than_one_s3_part_is_deduplicated_and_checked(
    service: Service,
) -> None:
    # Over 8 MiB the S3 backend streams a multipart upload, which carries no stored digest.
    size = 9 * MIB
    data = canonical_wav_header(size, 16000, 1, 2) + random.Random(1).randbytes(size)
    other = data[:-1] + b"\x00"
    assert not (await service.send("huge1", 0, data))["duplicate"]

    assert (await service.send("huge1", 0, data))["duplicate"]
    with pytest.raises(Conflict) as caught:
        await service.send("huge1", 0, other)
    assert caught.value.details["stored_sha256"] == sha(data)
    with pytest.raises(ChecksumMismatch):
        await service.send("huge1", 1, data, declared=sha(other))
    assert len(await service.chunk_objects("huge1")) == 1


# --- order, gaps, late chunks ---------------------------------------------------------------------


async def test_chunks_in_random_order_and_concurrently_make_a_byte_exact_master(
    service: Service,
) -> None:
    chunks = wav_chunks(24, seed=7)
    order = list(range(24))
    random.Random(3).shuffle(order)
    limiter = anyio.CapacityLimiter(8)

    async def one(seq: int) -> None:
        async with limiter:
            await service.send("rand1", seq, chunks[seq], final=seq == 23)

    async with anyio.create_task_group() as group:
        for seq in order:
            group.start_soon(one, seq)

    assert (await service.recording("rand1"))["status"] == "completed"
    assert await service.master("rand1") == wav_master(chunks)


async def test_a_final_chunk_completes_at_once_and_a_late_one_rebuilds(service: Service) -> None:
    """Like Vexa's meeting-api: the final chunk completes the recording from what is there (a
    bot skips a chunk that failed three times, and MediaRecorder's empty final chunk can overtake
    the last data chunk); the missing chunk, when it comes, is built in."""
    chunks = wav_chunks(4)
    for seq in (0, 1, 3):
        await service.send("gap1", seq, chunks[seq], final=seq == 3)

    audio = await service.audio("gap1")
    assert audio["status"] == "completed"
    assert audio["missing_chunks"] == [2]
    silent = chunks[2][:44] + bytes(len(chunks[2]) - 44)  # the gap keeps time as silence
    assert await service.master("gap1") == wav_master([chunks[0], chunks[1], silent, chunks[3]])

    answer = await service.send("gap1", 2, chunks[2])
    assert answer["status"] == "completed"
    assert (await service.audio("gap1"))["missing_chunks"] == []
    assert await service.master("gap1") == wav_master(chunks)


async def test_finalize_lists_a_gap_in_missing_chunks(service: Service) -> None:
    chunks = wav_chunks(5)
    for seq in (0, 1, 3, 4):
        await service.send("gap2", seq, chunks[seq])

    manifest = await service.ingest.finalize(await service.index("gap2"))

    assert manifest.status == "completed"
    audio = await service.audio("gap2")
    assert audio["missing_chunks"] == [2]
    assert audio["chunk_count"] == 4
    silence = chunks[2][:44] + bytes(len(chunks[2]) - 44)  # same-length chunks: 44-byte headers
    with_silence = [chunks[0], chunks[1], silence, chunks[3], chunks[4]]
    assert await service.master("gap2") == wav_master(with_silence)


async def test_a_late_chunk_after_finalize_rebuilds_the_master_with_it(service: Service) -> None:
    chunks = wav_chunks(6)
    for seq in (0, 1, 3):
        await service.send("late1", seq, chunks[seq])
    await service.ingest.finalize(await service.index("late1"))
    first = await service.audio("late1")

    await service.send("late1", 2, chunks[2])  # fills the gap
    await service.send("late1", 4, chunks[4])  # after the last known seq

    audio = await service.audio("late1")
    assert audio["status"] == "completed"
    assert audio["missing_chunks"] == []
    assert audio["chunk_count"] == 5
    assert audio["sha256"] != first["sha256"]
    assert await service.master("late1") == wav_master(chunks[:5])


async def test_wav_chunks_of_different_formats_fail_with_both_formats_named(
    service: Service,
) -> None:
    await service.send("mix1", 0, make_wav(0.05, rate=16000, channels=1))
    await service.send("mix1", 1, make_wav(0.05, rate=48000, channels=2))
    await service.send("mix1", 2, b"", final=True)

    recording = await service.recording("mix1")  # a read, never an error
    assert recording["status"] == "failed"
    reason = recording["error_message"]
    assert "16000" in reason and "48000" in reason, reason
    assert "1 ch" in reason and "2 ch" in reason, reason
    (audio,) = recording["media_files"]
    assert audio["status"] == "failed"
    assert audio["problems"], audio


# --- who may send ---------------------------------------------------------------------------------


async def test_an_upload_token_cannot_reach_another_session(service: Service) -> None:
    mine = await service.create("tok1")
    other = await service.create("tok2")
    who = Uploader(service.user, mine.session_uid, mine.recording_id)

    await service.send("tok1", 0, make_wav(0.05), who=who)
    for uid in ("tok2", "tok3"):
        with pytest.raises(ResourceNotFound):
            await service.send(uid, 0, make_wav(0.05), who=who)

    assert await service.session("tok3") is None, "a refused token created a session"
    assert await service.chunk_objects("tok2") == []
    assert other.recording_id != mine.recording_id


async def test_an_upload_token_of_a_deleted_recording_does_not_bring_it_back(
    service: Service,
) -> None:
    index = await service.create("del1")
    who = Uploader(service.user, index.session_uid, index.recording_id)
    await service.send("del1", 0, make_wav(0.05), who=who)
    await service.recordings.delete(service.user, index.recording_id)

    with pytest.raises(ResourceNotFound):
        await service.send("del1", 1, make_wav(0.05, seed=1), who=who)

    assert await service.session("del1") is None
    assert (await service.recordings.list(service.user)).recordings == []


async def test_a_replica_does_not_write_into_a_recording_deleted_by_another(
    service: Service,
) -> None:
    first = await service.send("gone1", 0, make_wav(0.05))
    await service.send("gone1", 1, make_wav(0.05, seed=1))  # this replica now knows the session
    other = service.replica()
    await other.recordings.delete(service.user, first["recording_id"])

    try:
        answer = await service.send("gone1", 2, make_wav(0.05, seed=2))
    except (ResourceNotFound, Conflict):
        answer = None  # refusing is fine: the bot retries and starts a fresh recording

    index = await other.session("gone1")
    if answer is None:
        assert index is None
    else:  # accepted: then into a recording its session index names, not the deleted one
        assert index is not None and index.recording_id == answer["recording_id"]
        assert answer["recording_id"] != first["recording_id"]
    ids = await other.catalog.recording_ids(service.user)
    assert first["recording_id"] not in [
        i for i in ids if await _manifest_exists(other, service.user, i)
    ]


async def _manifest_exists(service: Service, user: int, recording_id: int) -> bool:
    try:
        await service.catalog.load(user, recording_id)
    except ResourceNotFound:
        return False
    return True


# --- a two-hour meeting ---------------------------------------------------------------------------

RATE, CHUNK_SECONDS, CHUNKS = 16000, 15, 480
PAYLOAD = RATE * 2 * CHUNK_SECONDS  # 480,000 bytes of 16-bit mono per chunk


def long_chunk(seq: int) -> tuple[bytes, bytes]:
    """(WAV file, its payload) for one 15 s chunk; random samples, cheap to make."""
    payload = random.Random(seq).randbytes(PAYLOAD)
    header = canonical_wav_header(PAYLOAD, RATE, 1, 2)
    return header + payload, payload


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_480_wav_chunks_of_a_two_hour_meeting_assemble_byte_exact(
    service: Service, store_backend: str
) -> None:
    if store_backend == "moto":
        pytest.skip("230 MB through moto takes minutes; local and SeaweedFS cover it")
    total = PAYLOAD * CHUNKS
    expected = hashlib.sha256(canonical_wav_header(total, RATE, 1, 2))
    limiter = anyio.CapacityLimiter(4)

    async def one(seq: int) -> None:
        data, _ = long_chunk(seq)
        async with limiter:
            await service.send("long1", seq, data)

    async with anyio.create_task_group() as group:
        for seq in range(CHUNKS):
            group.start_soon(one, seq)
    for seq in range(CHUNKS):  # the expected digest, one payload at a time
        expected.update(long_chunk(seq)[1])
    answer = await service.send("long1", CHUNKS, b"", final=True)

    assert answer["status"] == "completed"
    audio = await service.audio("long1")
    assert audio["file_size_bytes"] == 44 + total
    assert audio["sha256"] == expected.hexdigest()
    assert audio["duration_seconds"] == pytest.approx(CHUNKS * CHUNK_SECONDS)
    key = f"recordings/{service.user}/{answer['recording_id']}/{service.uid('long1')}.wav"
    stored = hashlib.sha256()
    reader = await service.storage.open_range(key)
    head = b""
    try:
        async for block in reader:
            head = head or block[:44]
            stored.update(block)
    finally:
        await reader.aclose()
    assert stored.hexdigest() == expected.hexdigest()
    with wave.open(BytesIO(head)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        assert w.getnframes() == total // 2
