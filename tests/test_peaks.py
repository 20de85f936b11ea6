"""Waveform peaks: audiowaveform JSON v2 from the finished master, checked against peaks computed
here with numpy from the PCM ffmpeg decodes (the oracle), for WAV and WebM/Opus, through a real
server on local storage."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lite.peaks import PeakBuilder, samples_per_pixel
from lite.storage.base import Storage
from tests.mediafiles import FFMPEG
from tests.playkit import Deployment, Media, deploy, wav_upload, webm_upload


def numpy_peaks(pcm: np.ndarray, per_pixel: int) -> list[int]:
    """min/max of each `per_pixel` frames over all channels, high byte kept (>> 8)."""
    out: list[int] = []
    for start in range(0, len(pcm), per_pixel):
        window = pcm[start : start + per_pixel]
        out += [int(window.min()) >> 8, int(window.max()) >> 8]
    return out


def decoded(data: bytes, channels: int) -> np.ndarray:
    assert FFMPEG is not None
    pcm = subprocess.run(
        [FFMPEG, "-v", "error", "-i", "pipe:0", "-f", "s16le", "-"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(pcm, dtype=np.int16).reshape(-1, channels)


def test_builder_matches_numpy_across_blocks_and_channels() -> None:
    rng = np.random.default_rng(3)
    pcm = rng.integers(-32768, 32767, size=(10_000, 2), dtype=np.int16)
    builder = PeakBuilder(16000, 2, 256)
    for start in range(0, len(pcm), 777):  # blocks that do not align with pixels
        builder.feed(pcm[start : start + 777])
    got = builder.finish()
    assert (got["version"], got["channels"], got["bits"]) == (2, 1, 8)
    assert got["length"] == 40  # 10 000 / 256, the last pixel partial
    assert got["data"] == numpy_peaks(pcm, 256)


def test_long_files_get_wider_pixels() -> None:
    assert samples_per_pixel(48000, 20) == 256
    assert samples_per_pixel(48000, 7200) == 17280  # two hours in 20 000 pixels


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deploy("local", tmp_path_factory.mktemp("peaks"), in_process=True) as deployment:
        deployment.add("wav", wav_upload(3, 3, channels=2))
        deployment.add("webm", webm_upload(4, 3))
        yield deployment


def stored_peaks(site: Deployment, media: Media) -> Path:
    found = site.recording(media.session_uid)
    ext = found["media_files"][0]["format"]
    return Path(
        site.workdir,
        "recordings",
        "recordings",
        "7",
        str(media.recording_id),
        f"{media.session_uid}.{ext}.peaks.json",
    )


@pytest.mark.parametrize(("kind", "channels"), [("wav", 2), ("webm", 1)])
def test_peaks_match_numpy_of_the_decoded_master(
    site: Deployment, kind: str, channels: int
) -> None:
    media = site.media[kind]
    path = media.raw_path.removesuffix("/raw") + "/peaks"
    made = stored_peaks(site, media)
    deadline = time.monotonic() + 30
    while not made.exists() and time.monotonic() < deadline:  # made in the background
        time.sleep(0.1)
    assert made.exists(), "peaks were not made after finalize"

    answer = site.http.get(path, headers=site.auth())

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    got: dict[str, Any] = answer.json()
    pcm = decoded(media.body, channels)
    assert got["samples_per_pixel"] == 256 and got["bits"] == 8 and got["version"] == 2
    assert got["sample_rate"] == (16000 if kind == "wav" else 48000)
    assert got["length"] == -(-len(pcm) // 256)
    assert got["data"] == numpy_peaks(pcm, 256)
    assert max(got["data"]) > 10  # not silence: the check can fail

    etag = answer.headers["etag"]
    again = site.http.get(path, headers=site.auth(**{"If-None-Match": etag}))
    assert again.status_code == 304 and again.headers["etag"] == etag
    assert "private, max-age=" in answer.headers["cache-control"]
    assert site.http.get(path).status_code == 401


@pytest.mark.anyio
async def test_a_rebuilt_master_gets_new_peaks(storage: Storage) -> None:
    """On every backend: seq 2 arrives after finalize, its silence is replaced, and so are the
    peaks (read from the stored master through a blocking file for PyAV)."""
    from lite.waveforms import Waveforms
    from tests.mediafiles import wav_from_pcm
    from tests.test_ingest import Service
    from tests.test_wav_gaps import frames

    service = Service(storage)
    waveforms = Waveforms(service.storage, service.recordings)
    service.ingest.on_master = waveforms.schedule
    chunks = [wav_from_pcm(frames(seq)[: 8000 * 2], 8000, 1, 2) for seq in range(4)]
    for seq in (0, 1, 3):
        await service.send("re", seq, chunks[seq], final=seq == 3)
    index = await service.index("re")
    await service.ingest.finalize(index)
    audio = await service.audio("re")
    first = json.loads(await waveforms.get(service.user, index.recording_id, audio["id"]))
    hole = first["data"][2 * 70 : 2 * 71]  # pixel 70 lies inside seq 2 (frames 16000-24000)
    assert hole == [0, 0]

    await service.send("re", 2, chunks[2])

    again = json.loads(await waveforms.get(service.user, index.recording_id, audio["id"]))
    master = await service.master("re")
    assert again["data"] == numpy_peaks(decoded(master, 1), 256)
    assert again["data"][2 * 70 : 2 * 71] != [0, 0]
