"""Long MediaRecorder-style WebMs for the seekable-master tests, and oracles that read them.

A recording is made like a bot's: written live (`-live 1`: unknown-size Segment, no Cues, no
Duration) and cut at Cluster boundaries into ~15 s chunks. Two hours are made fast by encoding a
short clip once and letting ffmpeg loop it with `-c copy` (timestamps keep running), cached per
test session. Cluster boundaries are found with a minimal EBML walk written here, not with
`lite.ebml`, so the tests do not lean on the code they test.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
MKVINFO = shutil.which("mkvinfo")
CLUSTER = b"\x1f\x43\xb6\x75"
TWO_HOURS = 7200


@dataclass(frozen=True)
class Recording:
    path: Path
    chunks: list[bytes]
    truth: float  # seconds: the end of the last packet, by ffprobe on the original


def _run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True).stdout


def make_recording(workdir: Path, seconds: int, *, video: bool = False) -> Recording:
    if FFMPEG is None or FFPROBE is None:
        pytest.skip("ffmpeg/ffprobe are not installed")
    clip, out = workdir / "clip.webm", workdir / "live.webm"
    loop = 30 if video else 15
    audio = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={loop}"]
    if video:  # keyframes every 2 s (-g 10 at 5 fps)
        picture = ["-f", "lavfi", "-i", f"testsrc=size=64x48:rate=5:duration={loop}"]
        codecs = ["-c:v", "libvpx", "-g", "10", "-b:v", "20k", "-c:a", "libopus", "-b:a", "12k"]
        _run(FFMPEG, "-v", "error", "-y", *picture, *audio, *codecs, "-f", "webm", str(clip))
    else:
        codecs = ["-c:a", "libopus", "-b:a", "12k"]
        _run(FFMPEG, "-v", "error", "-y", *audio, *codecs, "-f", "webm", str(clip))
    loops = ["-stream_loop", str(seconds // loop - 1), "-i", str(clip), "-c", "copy"]
    _run(FFMPEG, "-v", "error", "-y", *loops, "-f", "webm", "-live", "1", str(out))
    chunks = cut_at_clusters(out.read_bytes(), 15.0)
    # The header and the last chunk hold the last packets (Cluster timecodes are absolute):
    # ffprobe reads their times in a moment instead of listing two hours of packets.
    tail = workdir / "tail.webm"
    tail.write_bytes(chunks[0] + chunks[-1])
    return Recording(out, chunks, packet_end(tail))


def packet_end(path: Path) -> float:
    """The end of the last packet (pts + duration) of any stream, by ffprobe."""
    assert FFPROBE is not None
    text = _run(
        FFPROBE,
        "-v",
        "error",
        "-show_entries",
        "packet=pts_time,duration_time",
        "-of",
        "csv=p=0",
        str(path),
    ).decode()
    end = 0.0
    for line in text.splitlines():
        pts, _, length = line.strip(",").partition(",")
        if pts not in ("", "N/A"):
            end = max(end, float(pts) + (float(length) if length not in ("", "N/A") else 0.0))
    return end


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    length = 9 - data[pos].bit_length()
    value = int.from_bytes(data[pos : pos + length], "big")
    return (value if keep_marker else value & ((1 << (7 * length)) - 1)), length


def cluster_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, timecode in ms) of each top-level Cluster of a live WebM (known-size Clusters,
    as ffmpeg writes them; the Segment's size may be unknown)."""
    return [(pos, timecode) for pos, _, timecode in _clusters(data)]


def cluster_bodies(data: bytes) -> list[bytes]:
    """The body of every Cluster, in order: where the coded audio and video live."""
    return [body for _, body, _ in _clusters(data)]


def _clusters(data: bytes) -> list[tuple[int, bytes, int]]:
    found = []
    pos = 0
    _, length = _vint(data, pos, True)
    size, size_length = _vint(data, pos + length, False)
    pos += length + size_length + size  # the EBML header
    pos += 4 + _vint(data, pos + 4, False)[1]  # the Segment's header
    while pos < len(data):
        _element_id, length = _vint(data, pos, True)
        size, size_length = _vint(data, pos + length, False)
        body = pos + length + size_length
        if data[pos : pos + 4] == CLUSTER:
            assert data[body] == 0xE7, "a Cluster starts with its Timecode"
            timecode_size, timecode_length = _vint(data, body + 1, False)
            start = body + 1 + timecode_length
            timecode = int.from_bytes(data[start : start + timecode_size], "big")
            found.append((pos, data[body : body + size], timecode))
        pos = body + size
    return found


def cut_at_clusters(data: bytes, seconds: float) -> list[bytes]:
    """Chunks of ~`seconds` each, every cut at a Cluster's start (the first chunk has the
    header), as a bot that flushes on cluster boundaries sends them."""
    cuts, next_cut = [0], seconds * 1000
    for offset, timecode in cluster_offsets(data):
        if timecode >= next_cut:
            cuts.append(offset)
            next_cut += seconds * 1000
    cuts.append(len(data))
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def mkvinfo(path: Path) -> str:
    if MKVINFO is None:
        pytest.skip("mkvinfo is not installed (Debian mkvtoolnix; `make system-deps`)")
    return _run(MKVINFO, "--all", "--ui-language", "en_US", str(path)).decode()


def format_duration(path: Path) -> float | None:
    assert FFPROBE is not None
    text = (
        _run(
            FFPROBE,
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=nw=1:nk=1",
            str(path),
        )
        .decode()
        .strip()
    )
    return None if text in ("", "N/A") else float(text)


def decoded_pcm_digest(path: Path) -> str:
    """sha256 of the audio decoded by ffmpeg to 48 kHz s16le."""
    assert FFMPEG is not None
    pcm = _run(FFMPEG, "-v", "error", "-i", str(path), "-map", "0:a", "-f", "s16le", "-")
    return hashlib.sha256(pcm).hexdigest()


def with_unknown_size_clusters(data: bytes) -> bytes:
    """The same WebM with every Cluster's size written as "unknown", as Chrome's MediaRecorder
    writes them (a Cluster then ends where the next top-level element starts)."""
    clusters = _clusters(data)
    out, previous = bytearray(), 0
    for pos, body, _ in clusters:
        out += data[previous:pos]
        out += CLUSTER + b"\x01\xff\xff\xff\xff\xff\xff\xff" + body
        previous = data.index(body, pos) + len(body)
    out += data[previous:]
    return bytes(out)
