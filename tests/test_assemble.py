"""Assembly plans: how chunk objects become one media file, checked byte for byte.

Chunks are stored on a local-disk store; expected files are built with the stdlib `wave` module
and plain concatenation, never with `lite.wav`.
"""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lite.assemble import Plan, make_plan, stream_plan
from lite.chunks import ChunkObject, list_chunks
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import byte_slices, wav_master
from tests.mediafiles import (
    build_riff,
    chunk,
    fmt_body,
    list_chunk,
    make_wav,
    pcm,
    read_wav,
    streaming_wav,
    wav_from_pcm,
)
from tests.stores import new_store

pytestmark = pytest.mark.anyio

USER, REC, UID = 7, 99, "sess"
EBML = b"\x1a\x45\xdf\xa3"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    async with new_store("local", tmp_path, LOCAL_STORAGE_FSYNC="false").opened() as storage:
        yield storage


async def stored(store: Storage, files: dict[int, bytes], ext: str = "wav") -> list[ChunkObject]:
    """Put chunks at their seqs and list them back as the ingest service does."""
    prefix = f"recordings/{USER}/{REC}/{UID}/audio/chunks/"
    for seq, data in files.items():
        await store.put(f"{prefix}{seq:010d}.{ext}", iter_bytes(data))
    return await list_chunks(store, USER, REC, UID, "audio")


async def built(store: Storage, plan: Plan, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([block async for block in stream_plan(store, plan, start, end)])


# --- WAV ------------------------------------------------------------------------------------------


async def test_wav_chunks_become_one_header_and_their_payloads_in_seq_order(
    store: Storage,
) -> None:
    files = {seq: make_wav(0.1, seed=seq) for seq in range(12)}  # seq 10, 11 sort after 9
    plan = await make_plan(store, await stored(store, files))

    assert plan.playable and plan.problems == []
    master = await built(store, plan)
    assert master == wav_master([files[s] for s in range(12)])
    assert plan.size == len(master)
    assert plan.duration_seconds == pytest.approx(1.2)


async def test_wav_headers_of_any_layout_are_stripped(store: Storage) -> None:
    frames = [pcm(800, seed=n) for n in range(3)]
    fmt = chunk(b"fmt ", fmt_body(16000, 1, 16))
    files = {
        0: wav_from_pcm(frames[0], 16000, 1, 2),
        1: build_riff([fmt, list_chunk("meeting")], frames[1], after=[list_chunk("tail")]),
        2: streaming_wav(frames[2], 16000, 1, 16, placeholder=0xFFFFFFFF),
    }
    plan = await make_plan(store, await stored(store, files))

    master = await built(store, plan)
    params, got = read_wav(master)
    assert got == b"".join(frames)
    assert master == wav_from_pcm(b"".join(frames), 16000, 1, 2)
    assert params.nframes == 2400


async def test_an_odd_payload_gets_a_pad_byte_that_the_riff_size_counts(store: Storage) -> None:
    files = {seq: make_wav(101 / 8000, rate=8000, sampwidth=1, seed=seq) for seq in range(3)}
    plan = await make_plan(store, await stored(store, files))

    master = await built(store, plan)
    payload = b"".join(read_wav(files[s])[1] for s in range(3))
    assert len(payload) == 303
    assert master.endswith(payload + b"\x00")
    assert struct.unpack_from("<I", master, 4)[0] == len(master) - 8
    assert read_wav(master)[1] == payload


async def test_empty_and_header_only_chunks_add_nothing(store: Storage) -> None:
    files = {0: make_wav(0.1, seed=0), 1: b"", 2: make_wav(0.0), 3: make_wav(0.1, seed=3), 4: b""}
    plan = await make_plan(store, await stored(store, files))

    assert plan.playable
    assert await built(store, plan) == wav_master([files[0], files[3]])


async def test_wav_chunks_of_different_formats_are_unplayable_with_both_named(
    store: Storage,
) -> None:
    files = {0: make_wav(0.1, rate=16000, channels=1), 1: make_wav(0.1, rate=48000, channels=2)}
    plan = await make_plan(store, await stored(store, files))

    assert not plan.playable
    (problem,) = plan.problems
    assert "chunk 1" in problem
    assert "16000 Hz, 1 ch" in problem and "48000 Hz, 2 ch" in problem


async def test_an_unreadable_wav_chunk_is_reported_by_its_seq(store: Storage) -> None:
    files = {0: make_wav(0.1), 1: b"this is not a wav file at all"}
    plan = await make_plan(store, await stored(store, files))

    assert not plan.playable
    assert any(p.startswith("chunk 1") for p in plan.problems), plan.problems


# --- other formats --------------------------------------------------------------------------------


async def test_webm_chunks_are_concatenated_in_seq_order(store: Storage) -> None:
    original = EBML + random.Random(1).randbytes(50_000)
    slices = byte_slices(original, 13)
    files = dict(enumerate(slices))
    plan = await make_plan(store, await stored(store, files, "webm"))

    assert plan.playable and plan.problems == [] and plan.ext == "webm"
    assert await built(store, plan) == original


async def test_webm_whose_first_chunk_lacks_the_ebml_header_is_unplayable(
    store: Storage,
) -> None:
    files = {0: b"\x1f\x43\xb6\x75cluster", 1: b"more"}
    plan = await make_plan(store, await stored(store, files, "webm"))

    assert not plan.playable
    assert any("EBML" in p and "seq 0" in p for p in plan.problems), plan.problems


async def test_chunks_of_mixed_formats_are_reported(store: Storage) -> None:
    await stored(store, {0: make_wav(0.1)})
    plan = await make_plan(store, await stored(store, {1: EBML + b"x"}, "webm"))

    assert not plan.playable
    assert any("wav" in p and "webm" in p for p in plan.problems), plan.problems


async def test_a_single_chunk_of_another_format_is_kept_as_is(store: Storage) -> None:
    data = b"ID3" + random.Random(2).randbytes(5000)
    plan = await make_plan(store, await stored(store, {0: data, 1: b""}, "mp3"))

    assert plan.playable and plan.ext == "mp3"
    assert await built(store, plan) == data


async def test_several_chunks_of_a_format_that_cannot_be_joined_are_reported(
    store: Storage,
) -> None:
    plan = await make_plan(store, await stored(store, {0: b"ID3a", 1: b"ID3b"}, "mp3"))

    assert not plan.playable
    assert any("mp3" in p for p in plan.problems), plan.problems


async def test_no_chunks_means_no_media(store: Storage) -> None:
    plan = await make_plan(store, [])
    assert not plan.playable
    assert plan.problems == ["no media data received"]


# --- ranges of a plan -----------------------------------------------------------------------------


async def test_any_byte_range_of_a_plan_matches_the_whole_file(store: Storage) -> None:
    files = {seq: make_wav(0.05, seed=seq) for seq in range(6)}
    plan = await make_plan(store, await stored(store, files))
    whole = await built(store, plan)
    picks = random.Random(5)
    cases = [(0, 0), (0, 43), (44, 44), (40, 50), (len(whole) - 1, len(whole) - 1)]
    for _ in range(40):
        low, high = sorted(picks.sample(range(len(whole)), 2))
        cases.append((low, high))

    for start, end in cases:
        assert await built(store, plan, start, end) == whole[start : end + 1], (start, end)
    assert await built(store, plan, 100, len(whole) + 500) == whole[100:]


# --- gaps: cost bounded by the chunks, not by the seq numbers ----------------------------------


def _per_seq_silence(sizes: dict[int, int], block: int, stop: int) -> int:
    """The gap rule applied one missing seq at a time (the median of up to two present
    neighbours on each side), to check the run-at-a-time assembler against."""
    present = sorted(sizes)
    total = 0
    for missing in range(stop):
        if missing in sizes:
            continue
        below = [s for s in present if s < missing][-2:]
        above = [s for s in present if s > missing][:2]
        near = sorted(sizes[s] for s in below + above if sizes[s])
        if near:
            mid = len(near) // 2
            size = near[mid] if len(near) % 2 else (near[mid - 1] + near[mid]) // 2
            total += size - size % block
    return total


async def test_a_run_of_missing_seqs_is_one_silence_as_long_as_each_seq_alone(
    store: Storage,
) -> None:
    # Runs of different lengths, an empty chunk inside a run and chunks of different sizes.
    files = {0: make_wav(0.1, seed=0), 1: make_wav(0.3, seed=1), 5: make_wav(0.2, seed=5)}
    files |= {7: wav_from_pcm(b"", 16000, 1, 2), 12: make_wav(0.1, seed=12)}
    plan = await make_plan(store, await stored(store, files))

    silences = [s for s in plan.segments if s.fill]
    assert len(silences) == 3  # 2-4, 6, 8-11 (seq 7 is present, empty)
    sizes = {seq: len(read_wav(data)[1]) for seq, data in files.items()}
    assert sum(s.length for s in silences) == _per_seq_silence(sizes, 2, 12)
    assert [p.split(" missing")[0] for p in plan.problems] == ["seqs 2-4", "seq 6", "seqs 8-11"]
    assert plan.playable


async def test_a_seq_far_beyond_the_others_is_a_problem_not_a_stall(store: Storage) -> None:
    files = {0: make_wav(0.1, seed=0), 9_999_999_999: make_wav(0.1, seed=1)}
    plan = await make_plan(store, await stored(store, files))

    assert not plan.playable
    assert plan.problems[-1].endswith("exceeds the 4 GiB WAV limit")
    assert len(plan.problems) == 2  # one line for the run of ten billion seqs, one for the size
