"""Durations without ffprobe: from the WAV header, WebM block timecodes, the Ogg granule position.

The media are made with ffmpeg first; then ffprobe is taken off PATH, so the service has to
measure on its own, as it does in the container (no ffprobe in the image). ffprobe checked the
same files beforehand as the oracle.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lite import oggdur
from lite.storage.local import LocalStorage
from tests.mediafiles import FFMPEG, FFPROBE, make_wav, make_webm
from tests.test_ingest import Service
from tests.webmkit import packet_end

pytestmark = pytest.mark.anyio


def make_ogg(tmp: Path, codec: str, seconds: float) -> bytes:
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    out = tmp / f"{codec}.ogg"
    source = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    subprocess.run([FFMPEG, "-v", "error", "-y", *source, "-c:a", codec, str(out)], check=True)
    return out.read_bytes()


def probed(data: bytes, tmp: Path) -> float:
    assert FFPROBE is not None
    path = tmp / "probe.bin"
    path.write_bytes(data)
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return float(out) if out != "N/A" else packet_end(path)  # a live WebM declares none


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    made = {
        "wav": make_wav(2.5),
        "webm": make_webm(3.0, seekable=False),
        "opus": make_ogg(tmp_path, "libopus", 4.0),
        "ogg": make_ogg(tmp_path, "libvorbis", 5.0),
    }
    return made


async def test_durations_without_ffprobe_on_path(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = {fmt: probed(data, tmp_path) for fmt, data in files.items()}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert shutil.which("ffprobe") is None
    service = Service(LocalStorage(str(tmp_path / "store"), fsync=False))
    for fmt, data in files.items():
        answer = await service.send(f"d-{fmt}", 0, data, fmt=fmt, final=True)
        assert answer["status"] == "completed", fmt
        got = (await service.audio(f"d-{fmt}"))["duration_seconds"]
        assert got is not None and abs(got - truth[fmt]) < 0.05, (fmt, got, truth[fmt])


def test_ogg_duration_needs_a_known_codec_and_a_granule() -> None:
    assert oggdur.duration_seconds(b"not ogg", b"") is None
    page = b"OggS\x00\x02" + bytes(8) + (7).to_bytes(4, "little") + bytes(8) + b"\x01\x08"
    assert oggdur.duration_seconds(page + b"FLACxxxx", page) is None  # not Opus or Vorbis
