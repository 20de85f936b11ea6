"""WAV (RIFF/WAVE) headers: parse a chunk's header, build one header for an assembled master.

Pure functions, no I/O. The assembler reads at most `HEADER_PROBE_BYTES` of each chunk, calls
`parse_wav_header` to find where the PCM payload starts and how long it is, copies the payloads in
seq order behind one `build_wav_header`, and appends a pad byte when `pad_byte_needed` says so.
An in-progress recording is served the same way: a header computed for the payload received so far.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_PROBE_BYTES = 65536

# A RIFF size field is 32 bits: the whole file minus 8 bytes must fit.
_MAX_RIFF_SIZE = 0xFFFFFFFF
# Streaming writers that cannot seek back leave the data size at one of these placeholders.
_UNKNOWN_DATA_SIZES = (0, 0xFFFFFFFF)
_FMT_BASE = struct.Struct("<HHIIHH")
_CHUNK_HEAD = struct.Struct("<4sI")

_FORMAT_NAMES = {1: "PCM", 3: "IEEE float", 6: "A-law", 7: "mu-law", 0xFFFE: "extensible"}


class WavError(ValueError):
    """The bytes are not a WAV this service can assemble; the message says why."""


@dataclass(frozen=True)
class WavFormat:
    """The `fmt ` chunk. Chunks can be joined only when their formats are equal (all fields)."""

    audio_format: int
    channels: int
    sample_rate: int
    byte_rate: int
    block_align: int
    bits_per_sample: int
    # fmt bytes after the first 16 (cbSize and, for WAVE_FORMAT_EXTENSIBLE, the extension),
    # kept verbatim so the built header describes the samples exactly as the recorder did.
    extra: bytes = b""

    def describe(self) -> str:
        """Human wording for failure reasons, e.g. 'PCM 16000 Hz, 1 ch, 16-bit'."""
        name = _FORMAT_NAMES.get(self.audio_format, f"format 0x{self.audio_format:04x}")
        text = f"{name} {self.sample_rate} Hz, {self.channels} ch, {self.bits_per_sample}-bit"
        return text + (f", {len(self.extra)} extra fmt bytes" if self.extra else "")


@dataclass(frozen=True)
class WavLayout:
    """Where a chunk's PCM payload lies: bytes [data_offset, data_offset + data_size)."""

    fmt: WavFormat
    data_offset: int
    data_size: int


def parse_wav_header(head: bytes, total_size: int) -> WavLayout:
    """Walk the RIFF chunks in `head` (the file's first bytes) up to `data`.

    `total_size` is the whole file's size; it decides how much payload is really present, because
    streaming writers leave the declared size at 0 or 0xFFFFFFFF and a cut-off upload declares more
    than it holds. A declared size smaller than what follows is trusted, so trailing chunks (LIST,
    id3) after the samples are not mistaken for audio. The size is rounded down to whole frames.
    """
    _check_riff(head)
    fmt: WavFormat | None = None
    pos = 12
    while pos + _CHUNK_HEAD.size <= len(head):
        chunk_id, size = _CHUNK_HEAD.unpack_from(head, pos)
        body = pos + _CHUNK_HEAD.size
        if chunk_id == b"data":
            if fmt is None:
                raise WavError("WAV has no fmt chunk before its data chunk")
            return WavLayout(fmt, body, _data_size(fmt, size, body, total_size))
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(head, body, size)
        pos = body + size + (size & 1)  # RIFF chunks are word-aligned: odd sizes carry a pad byte
    if len(head) < total_size:
        raise WavError(f"WAV data chunk not found in the first {len(head)} bytes")
    if pos > len(head):
        raise WavError("WAV is truncated: a chunk runs past the end of the file")
    raise WavError("WAV has no data chunk")


def _check_riff(head: bytes) -> None:
    if head[:4] in (b"RF64", b"BW64"):
        raise WavError("RF64/BW64 (WAV over 4 GiB) is not supported")
    if len(head) < 12:
        raise WavError(f"too short for a WAV header ({len(head)} bytes)")
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")


def _parse_fmt(head: bytes, body: int, size: int) -> WavFormat:
    if size < _FMT_BASE.size:
        raise WavError(f"WAV fmt chunk is too short ({size} bytes, need 16)")
    if body + size > len(head):
        raise WavError("WAV fmt chunk is truncated")
    audio_format, channels, rate, byte_rate, block_align, bits = _FMT_BASE.unpack_from(head, body)
    extra = bytes(head[body + _FMT_BASE.size : body + size])
    return WavFormat(audio_format, channels, rate, byte_rate, block_align, bits, extra)


def _data_size(fmt: WavFormat, declared: int, data_offset: int, total_size: int) -> int:
    present = max(0, total_size - data_offset)
    size = present if declared in _UNKNOWN_DATA_SIZES or declared > present else declared
    # Whole frames only: a partial frame (an upload cut mid-sample) would shift every later
    # chunk's samples across channels once the payloads are joined.
    if fmt.block_align > 0:
        size -= size % fmt.block_align
    return size


def header_size(fmt: WavFormat) -> int:
    """Length of the header `build_wav_header` makes for this format (independent of data size)."""
    fmt_size = _FMT_BASE.size + len(fmt.extra)
    return 12 + _CHUNK_HEAD.size + fmt_size + (fmt_size & 1) + _CHUNK_HEAD.size


def pad_byte_needed(data_size: int) -> bool:
    """An odd payload is followed by one zero pad byte; the RIFF size built here counts it."""
    return data_size % 2 == 1


def build_wav_header(fmt: WavFormat, data_size: int) -> bytes:
    """RIFF + `fmt ` (extra bytes kept, so cbSize and the extensible layout survive) + `data`.

    The file the assembler writes is this header, `data_size` payload bytes, and one zero byte when
    `pad_byte_needed(data_size)`; the RIFF size covers all of it (file size minus 8).
    """
    if data_size < 0:
        raise WavError(f"negative WAV data size {data_size}")
    fmt_body = _FMT_BASE.pack(
        fmt.audio_format,
        fmt.channels,
        fmt.sample_rate,
        fmt.byte_rate,
        fmt.block_align,
        fmt.bits_per_sample,
    )
    fmt_body += fmt.extra + b"\x00" * (len(fmt.extra) & 1)
    fmt_size = _FMT_BASE.size + len(fmt.extra)
    riff_size = header_size(fmt) - 8 + data_size + (data_size & 1)
    if riff_size > _MAX_RIFF_SIZE:
        raise WavError(f"WAV payload of {data_size} bytes exceeds the 4 GiB WAV limit")
    return b"".join(
        (
            _CHUNK_HEAD.pack(b"RIFF", riff_size),
            b"WAVE",
            _CHUNK_HEAD.pack(b"fmt ", fmt_size),
            fmt_body,
            _CHUNK_HEAD.pack(b"data", data_size),
        )
    )


def duration_seconds(fmt: WavFormat, data_size: int) -> float:
    """Playing time of `data_size` payload bytes; 0 when the header gives no byte rate."""
    if fmt.byte_rate <= 0:
        return 0.0
    return data_size / fmt.byte_rate


def silence_byte(fmt: WavFormat) -> bytes:
    """The byte that repeated is silence: 8-bit PCM is unsigned (0x80), A-law and mu-law code
    zero as 0xD5 and 0xFF; everything else (signed PCM, float) is zero."""
    if fmt.audio_format == 1 and fmt.bits_per_sample == 8:
        return b"\x80"
    return {6: b"\xd5", 7: b"\xff"}.get(fmt.audio_format, b"\x00")


def gap_size(fmt: WavFormat, neighbours: list[int]) -> int:
    """Payload bytes for a missing chunk: the median of its neighbours' sizes, whole frames."""
    if not neighbours:
        return 0
    ordered = sorted(neighbours)
    middle = len(ordered) // 2
    size = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) // 2
    return size - size % fmt.block_align if fmt.block_align > 0 else size
