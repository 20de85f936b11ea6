"""ffprobe and ffmpeg read recordings over HTTP as a media tool does: by ranges.

Local storage: the signed `/raw` URL from `/download`; SeaweedFS: the presigned URL (the app is
not in that path). ffmpeg's trace log shows each request's `Range` and each answer's status line
and `Content-Range`, so both backends prove the seek was a 206 starting mid-file; on local the
app's own metrics count the 206s too.

The WAV is 60 s of 48 kHz stereo (11.5 MB): on a small file ffmpeg reads forward across a short
gap instead of seeking, which would prove nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.playkit import BACKENDS, Deployment, deploy, wav_upload, webm_upload

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
pytestmark = pytest.mark.skipif(
    FFMPEG is None or FFPROBE is None,
    reason="ffmpeg/ffprobe are not installed (Debian package ffmpeg; `make test` installs it)",
)
TIMEOUT = 60
_STATUS = re.compile(r"header='HTTP/1\.[01] (\d{3})")
_CONTENT_RANGE = re.compile(r"header='content-range: bytes (\d+)-(\d+)/(\d+)'", re.IGNORECASE)
WAV_RATE, WAV_CHANNELS, WAV_WIDTH = 48000, 2, 2


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"ffmpeg-{request.param}")
    with deploy(request.param, workdir, request) as deployment:
        deployment.add(
            "wav", wav_upload(60, 4, WAV_RATE, WAV_CHANNELS, WAV_WIDTH, seed=3, fast=True)
        )
        deployment.add("webm", webm_upload(20, 5))
        yield deployment


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize("kind", ["wav", "webm"])
def test_ffprobe_reads_the_duration(site: Deployment, kind: str) -> None:
    media = site.media[kind]
    url = site.playable_url(media)
    assert ("sig=" in url) if site.backend == "local" else url.startswith(site.public_endpoint)
    assert FFPROBE is not None
    done = run([FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url])
    assert done.returncode == 0, done.stderr
    assert abs(float(done.stdout.strip()) - media.duration) <= 0.1, done.stdout


@pytest.mark.parametrize("kind", ["wav", "webm"])
def test_ffmpeg_decodes_from_the_middle(site: Deployment, kind: str) -> None:
    media = site.media[kind]
    url = site.playable_url(media)
    before = site.metric(206)
    assert FFMPEG is not None
    middle = media.duration / 2
    command = [FFMPEG, "-nostdin", "-v", "trace", "-ss", f"{middle:.3f}", "-i", url]
    done = run([*command, "-t", "1", "-f", "null", "-"])
    assert done.returncode == 0, done.stderr[-3000:]
    # One second of audio was decoded: the null muxer's last progress line says how much.
    times = re.findall(r"time=(\d+):(\d+):(\d+\.\d+)", done.stderr)
    assert times, done.stderr[-2000:]
    hours, minutes, seconds = times[-1]
    assert 0.9 <= int(hours) * 3600 + int(minutes) * 60 + float(seconds) <= 1.1
    # Every answer was a 206, and one of them starts in the middle of the file.
    statuses = _STATUS.findall(done.stderr)
    assert statuses and set(statuses) == {"206"}, statuses
    ranges = [(int(a), int(b), int(n)) for a, b, n in _CONTENT_RANGE.findall(done.stderr)]
    # WebM: the Cues sit at the front, so the first answer may already hold all it needs.
    assert len(ranges) == len(statuses) >= (2 if kind == "wav" else 1), ranges
    assert all(end == size - 1 and size == media.size for _, end, size in ranges), ranges
    starts = [start for start, _, _ in ranges]
    if kind == "wav":  # the byte of `middle` seconds after the 44-byte header, exactly
        assert 44 + round(middle * WAV_RATE) * WAV_CHANNELS * WAV_WIDTH in starts, starts
    else:  # WebM: from the start (header, Cues), then the Cluster holding `middle` if needed
        assert starts[0] == 0 and all(0 <= start < media.size for start in starts), starts
    if site.backend == "local":
        assert site.metric(206) - before >= len(statuses)
