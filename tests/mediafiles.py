"""Test media generators, shared by test modules (import as `mediafiles`).

WAVs come from the stdlib `wave` module or are built chunk by chunk here, independently of
`lite.wav`, so tests of the parser do not lean on the code they test. WebM comes from ffmpeg.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
requires_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
requires_ffprobe = pytest.mark.skipif(FFPROBE is None, reason="ffprobe is not installed")

# KSDATAFORMAT_SUBTYPE_PCM, the SubFormat GUID of WAVE_FORMAT_EXTENSIBLE integer PCM.
PCM_SUBFORMAT = bytes.fromhex("0100000000001000800000aa00389b71")


def pcm(nframes: int, channels: int = 1, sampwidth: int = 2, seed: int = 0) -> bytes:
    """Deterministic sample bytes; distinct seeds give distinct payloads (to catch reordering)."""
    size = nframes * channels * sampwidth
    return bytes((i * 7 + seed * 31 + i // 251) % 256 for i in range(size))


def wav_from_pcm(frames: bytes, rate: int, channels: int, sampwidth: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def make_wav(
    seconds: float, rate: int = 16000, channels: int = 1, sampwidth: int = 2, seed: int = 0
) -> bytes:
    """A complete WAV file written by the stdlib `wave` module (a 44-byte canonical header)."""
    frames = pcm(round(seconds * rate), channels, sampwidth, seed)
    return wav_from_pcm(frames, rate, channels, sampwidth)


def read_wav(data: bytes) -> tuple[wave._wave_params, bytes]:
    """(params, all frames) as the stdlib `wave` module reads them."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getparams(), w.readframes(w.getnframes())


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    """One RIFF chunk with its pad byte when the body is odd-sized."""
    return struct.pack("<4sI", chunk_id, len(body)) + body + b"\x00" * (len(body) % 2)


def fmt_body(
    rate: int, channels: int, bits: int, audio_format: int = 1, extra: bytes = b""
) -> bytes:
    block = channels * ((bits + 7) // 8)
    return struct.pack("<HHIIHH", audio_format, channels, rate, rate * block, block, bits) + extra


def extensible_fmt_body(rate: int, channels: int, bits: int, mask: int = 0x3) -> bytes:
    """WAVE_FORMAT_EXTENSIBLE: cbSize 22, valid bits, channel mask, SubFormat GUID."""
    extra = struct.pack("<HHI", 22, bits, mask) + PCM_SUBFORMAT
    return fmt_body(rate, channels, bits, audio_format=0xFFFE, extra=extra)


def list_chunk(text: str) -> bytes:
    """A LIST/INFO chunk (INAM) like the ones editors put before or after the samples."""
    value = text.encode() + b"\x00"
    return chunk(b"LIST", b"INFO" + chunk(b"INAM", value))


def build_riff(
    chunks: list[bytes],
    frames: bytes,
    *,
    after: list[bytes] | None = None,
    data_size: int | None = None,
) -> bytes:
    """RIFF/WAVE from pre-built chunks, then `data` (declared size overridable), then `after`."""
    declared = len(frames) if data_size is None else data_size
    data = struct.pack("<4sI", b"data", declared) + frames + b"\x00" * (len(frames) % 2)
    body = b"WAVE" + b"".join(chunks) + data + b"".join(after or [])
    return struct.pack("<4sI", b"RIFF", len(body)) + body


def streaming_wav(frames: bytes, rate: int, channels: int, bits: int, placeholder: int) -> bytes:
    """What a writer that cannot seek back leaves: data (and RIFF) size stuck at `placeholder`."""
    body = chunk(b"fmt ", fmt_body(rate, channels, bits))
    head = b"RIFF" + struct.pack("<I", placeholder) + b"WAVE" + body
    return head + struct.pack("<4sI", b"data", placeholder) + frames


def make_webm(seconds: float, *, seekable: bool = True) -> bytes:
    """Opus in WebM from ffmpeg's sine source.

    `seekable=False` writes to a pipe, so ffmpeg cannot go back and fill in the duration: the
    result has no duration in its header, like a MediaRecorder recording.
    """
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    source = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "libopus"]
    cmd = [FFMPEG, "-v", "error", "-nostdin", "-y", *source, "-f", "webm"]
    if not seekable:
        return subprocess.run([*cmd, "pipe:1"], check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.webm"
        subprocess.run([*cmd, str(out)], check=True, capture_output=True)
        return out.read_bytes()


def webm_master(data: bytes) -> bytes:
    """The seekable master the server makes of this WebM (chunks joined in seq order).

    Made by lite's own pure scanner and layout: tests that need the master's exact bytes (range
    serving, digests) use this; the master itself is checked against mkvinfo, ffprobe and
    decoded PCM in test_webm_master.py.
    """
    from lite.webmmaster import layout
    from lite.webmscan import WebmScanner

    scanner = WebmScanner()
    scanner.feed(data)
    pieces = layout(scanner.finish())
    return b"".join(p.data if p.data else data[p.start : p.end] for p in pieces)
