"""Seekable WebM masters: MediaRecorder-style chunks become a file with Duration, Cues, SeekHead.

The recordings are written live by ffmpeg and cut at Cluster boundaries (tests/webmkit.py);
mkvinfo and ffprobe read the masters, ffmpeg decodes them. Two hours run on local storage; the
S3 backends get a shorter recording through the same code.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from lite.assemble import make_plan, stream_plan
from lite.chunks import list_chunks
from lite.masterplan import make_master_plan
from lite.storage.base import Storage, iter_bytes
from lite.storage.local import LocalStorage
from tests import webmkit
from tests.webmkit import Recording

pytestmark = pytest.mark.anyio

USER, REC, UID = 7, 99, "sess"


@pytest.fixture(scope="session")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return webmkit.make_recording(tmp_path_factory.mktemp("webm-2h"), webmkit.TWO_HOURS)


@pytest.fixture(scope="session")
def two_hours_video(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    workdir = tmp_path_factory.mktemp("webm-2h-v")
    return webmkit.make_recording(workdir, webmkit.TWO_HOURS, video=True)


@pytest.fixture(scope="session")
def three_minutes(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return webmkit.make_recording(tmp_path_factory.mktemp("webm-3m"), 180)


async def build(
    store: Storage, recording: Recording, *, seekable: bool = True
) -> tuple[bytes, float | None]:
    """Store the chunks, plan the master as finalize does: (its bytes, its duration)."""
    prefix = f"recordings/{USER}/{REC}/{UID}/audio/chunks/"
    for seq, data in enumerate(recording.chunks):
        await store.put(f"{prefix}{seq:010d}.webm", iter_bytes(data))
    chunks = await list_chunks(store, USER, REC, UID, "audio")
    plan = await (make_master_plan if seekable else make_plan)(store, chunks)
    assert plan.playable and plan.problems == [], plan.problems
    written = bytearray()
    async for block in stream_plan(store, plan):
        written += block
    assert len(written) == plan.size
    return bytes(written), plan.duration_seconds


def cue_times(info: str) -> list[float]:
    """Cue times in seconds from `mkvinfo --all`."""
    found = re.findall(r"Cue time: (\d+):(\d+):([\d.]+)", info)
    return [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in found]


def assert_seekable(path: Path, truth: float, reported: float | None, max_gap: float = 5.0) -> str:
    """Checks with mkvinfo and ffprobe; returns mkvinfo's report."""
    info = webmkit.mkvinfo(path)
    assert "+ Segment: size " in info and "unknown" not in info.split("+ Segment", 1)[1][:40]
    match = re.search(r"\+ Duration: (\d+):(\d+):([\d.]+)", info)
    assert match, info[:2000]
    duration = int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])
    assert abs(duration - truth) < 0.1, (duration, truth)
    assert "+ Seek head" in info and "+ Cues" in info
    times = cue_times(info)
    assert times and times[0] < 1.0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= max_gap and truth - times[-1] <= 5.0, max(gaps)
    probed = webmkit.format_duration(path)
    assert probed is not None and abs(probed - truth) < 0.1, (probed, truth)
    assert reported is not None and abs(reported - truth) < 0.1, (reported, truth)
    return info


def assert_same_clusters(master: Path, recording: Recording) -> None:
    """Every Cluster body copied byte for byte: the coded media is untouched."""
    original = webmkit.cluster_bodies(b"".join(recording.chunks))
    assert webmkit.cluster_bodies(master.read_bytes()) == original


async def test_two_hour_recorder_webm_gets_duration_cues_and_seek_head(
    tmp_path: Path, two_hours: Recording
) -> None:
    assert len(two_hours.chunks) >= 470  # ~15 s each
    assert webmkit.format_duration(two_hours.path) is None  # live: no duration to start with
    store = LocalStorage(str(tmp_path / "store"), fsync=False)
    master = tmp_path / "master.webm"
    data, reported = await build(store, two_hours)
    master.write_bytes(data)

    assert_seekable(master, two_hours.truth, reported)
    assert_same_clusters(master, two_hours)


async def test_two_hour_video_webm_cues_sit_on_keyframes(
    tmp_path: Path, two_hours_video: Recording
) -> None:
    store = LocalStorage(str(tmp_path / "store"), fsync=False)
    master = tmp_path / "master.webm"
    data, reported = await build(store, two_hours_video)
    master.write_bytes(data)

    info = assert_seekable(master, two_hours_video.truth, reported)
    assert "Cue track: 1" in info and "Cue track: 2" not in info  # the video track
    keyframes = {
        round(int(h) * 3600 + int(m) * 60 + float(s), 3)
        for h, m, s in re.findall(r"key, track number 1, .*timestamp (\d+):(\d+):([\d.]+)", info)
    }
    cues = cue_times(info)
    assert len(keyframes) > 3000 and all(round(t, 3) in keyframes for t in cues), cues[:10]
    assert_same_clusters(master, two_hours_video)


async def test_decoded_audio_of_the_master_equals_the_plain_concatenation(
    tmp_path: Path, storage: Storage, three_minutes: Recording
) -> None:
    """On every backend: the seekable master decodes to exactly the PCM of the chunks joined."""
    seekable, plain = tmp_path / "seekable.webm", tmp_path / "plain.webm"
    data, reported = await build(storage, three_minutes)
    seekable.write_bytes(data)
    plain.write_bytes(b"".join(three_minutes.chunks))

    assert webmkit.decoded_pcm_digest(seekable) == webmkit.decoded_pcm_digest(plain)
    assert_seekable(seekable, three_minutes.truth, reported)


async def test_after_a_lost_webm_chunk_later_blocks_keep_their_time(
    tmp_path: Path, three_minutes: Recording
) -> None:
    """Cluster timecodes are absolute: without chunk 5 the later audio still plays at its own
    time (the player jumps over the hole), and the duration is the meeting's."""
    chunks = three_minutes.chunks
    joined = b"".join(chunks)
    lost_from = sum(len(c) for c in chunks[:5])
    lost_to = lost_from + len(chunks[5])
    kept = [t for at, t in webmkit.cluster_offsets(joined) if not lost_from <= at < lost_to]
    store = LocalStorage(str(tmp_path / "store"), fsync=False)
    gap = Recording(three_minutes.path, chunks[:5] + chunks[6:], three_minutes.truth)

    data, reported = await build(store, gap)

    assert [t for _, t in webmkit.cluster_offsets(data)] == kept
    assert kept[-1] > 170_000  # the last Cluster still starts near the end of three minutes
    master = tmp_path / "gap.webm"
    master.write_bytes(data)
    assert_seekable(master, three_minutes.truth, reported, max_gap=5.0 + 15.0)  # the hole


async def test_unknown_size_clusters_like_chrome_writes_them(
    tmp_path: Path, three_minutes: Recording
) -> None:
    """Chrome's MediaRecorder leaves every Cluster's size unknown and its timeslice cuts bytes
    anywhere: the master still gets known sizes, the same Cluster bodies and the same audio."""
    original = webmkit.with_unknown_size_clusters(b"".join(three_minutes.chunks))
    assert b"\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff" in original
    cuts = [round(i * len(original) / 12) for i in range(13)]  # arbitrary byte offsets
    chrome = Recording(
        three_minutes.path, [original[a:b] for a, b in itertools.pairwise(cuts)], 0.0
    )
    store = LocalStorage(str(tmp_path / "store"), fsync=False)

    data, reported = await build(store, chrome)

    master, plain = tmp_path / "chrome.webm", tmp_path / "plain.webm"
    master.write_bytes(data)
    plain.write_bytes(original)
    assert_seekable(master, three_minutes.truth, reported)
    assert webmkit.cluster_bodies(data) == webmkit.cluster_bodies(b"".join(three_minutes.chunks))
    assert webmkit.decoded_pcm_digest(master) == webmkit.decoded_pcm_digest(plain)
