"""Gaps keep time: a missing WAV seq becomes silence of the expected length, a late chunk
replaces it. Expected files are built with the stdlib `wave` module."""

from __future__ import annotations

from pathlib import Path

import pytest

from lite import wav
from lite.storage.local import LocalStorage
from tests.mediafiles import pcm, read_wav, wav_from_pcm
from tests.test_ingest import Service

pytestmark = pytest.mark.anyio

RATE, SECONDS, COUNT, MISSING = 8000, 15, 8, 3


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(LocalStorage(str(tmp_path / "store"), fsync=False))


def frames(seq: int) -> bytes:
    return pcm(RATE * SECONDS, seed=seq + 1)


async def send_all_but(service: Service, name: str, missing: int) -> None:
    for seq in range(COUNT):
        if seq != missing:
            chunk = wav_from_pcm(frames(seq), RATE, 1, 2)
            await service.send(name, seq, chunk, final=seq == COUNT - 1)


async def test_a_missing_seq_is_silence_exactly_where_it_belongs(service: Service) -> None:
    await send_all_but(service, "gap", MISSING)
    assert (await service.recording("gap"))["status"] == "completed"  # on the final chunk
    manifest = await service.ingest.finalize(await service.index("gap"))
    assert manifest.status == "completed"

    params, got = read_wav(await service.master("gap"))
    assert params.nframes == COUNT * SECONDS * RATE
    size = SECONDS * RATE * 2
    silence = bytes(size)
    expected = b"".join(silence if s == MISSING else frames(s) for s in range(COUNT))
    assert got[MISSING * size : (MISSING + 1) * size] == silence
    assert got == expected
    audio = await service.audio("gap")
    assert audio["problems"] == ["seq 3 missing: 15.0 s of silence inserted"]
    assert audio["missing_chunks"] == [MISSING]
    assert audio["duration_seconds"] == pytest.approx(COUNT * SECONDS)

    late = await service.send("gap", MISSING, wav_from_pcm(frames(MISSING), RATE, 1, 2))

    assert late["status"] == "completed"
    gapless = wav_from_pcm(b"".join(frames(s) for s in range(COUNT)), RATE, 1, 2)
    assert await service.master("gap") == gapless
    audio = await service.audio("gap")
    assert audio["problems"] == [] and audio["missing_chunks"] == []


async def test_gap_fill_none_leaves_the_gap_out(service: Service) -> None:
    service.ingest.wav_gap_fill = False
    await send_all_but(service, "nofill", MISSING)
    await service.ingest.finalize(await service.index("nofill"))

    _, got = read_wav(await service.master("nofill"))
    assert got == b"".join(frames(s) for s in range(COUNT) if s != MISSING)
    assert (await service.audio("nofill"))["problems"] == []


@pytest.mark.parametrize(
    ("audio_format", "bits", "byte"),
    [(1, 8, b"\x80"), (1, 16, b"\x00"), (3, 32, b"\x00"), (6, 8, b"\xd5"), (7, 8, b"\xff")],
)
def test_silence_byte_per_sample_format(audio_format: int, bits: int, byte: bytes) -> None:
    fmt = wav.WavFormat(audio_format, 1, 8000, 8000 * bits // 8, bits // 8, bits)
    assert wav.silence_byte(fmt) == byte


def test_gap_size_is_the_median_in_whole_frames() -> None:
    fmt = wav.WavFormat(1, 2, 8000, 32000, 4, 16)
    assert wav.gap_size(fmt, [100, 400, 404]) == 400
    assert wav.gap_size(fmt, [100, 202]) == 148  # (100 + 202) // 2 = 151, down to whole frames
    assert wav.gap_size(fmt, []) == 0
