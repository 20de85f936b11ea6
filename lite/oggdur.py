"""Duration of an Ogg Opus or Ogg Vorbis file from its first and last pages. Pure.

The granule position of the last page counts samples from the start (48 kHz for Opus, minus
the pre-skip its header declares; the stream's sample rate for Vorbis), so the first and the
last few KiB of the file are enough (RFC 7845 section 4, Vorbis I specification section A.2).
"""

from __future__ import annotations

import struct

TAIL_BYTES = 65536  # an Ogg page is at most 65307 bytes
HEAD_BYTES = 4096
_PAGE = struct.Struct("<4sBBqII")  # capture, version, flags, granule, serial, page sequence
_OPUS_RATE = 48000


def _first_packet(head: bytes) -> tuple[int, bytes] | None:
    """(serial, start of the first packet) of the first page."""
    if len(head) < 28 or head[:4] != b"OggS":
        return None
    serial = _PAGE.unpack_from(head, 0)[4]
    segments = head[26]
    return serial, head[27 + segments : 27 + segments + 64]


def _clock(packet: bytes) -> tuple[int, int] | None:
    """(samples per second of the granule, samples to subtract) from an identification header."""
    if packet.startswith(b"OpusHead") and len(packet) >= 12:
        return _OPUS_RATE, struct.unpack_from("<H", packet, 10)[0]
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        rate = struct.unpack_from("<I", packet, 12)[0]
        return (rate, 0) if rate else None
    return None


def last_granule(tail: bytes, serial: int) -> int | None:
    """The granule position of the last complete page of stream `serial` in `tail`."""
    at = tail.rfind(b"OggS")
    while at >= 0:
        if at + _PAGE.size <= len(tail):
            _, version, _, granule, page_serial, _ = _PAGE.unpack_from(tail, at)
            if version == 0 and page_serial == serial and granule >= 0:
                return int(granule)
        at = tail.rfind(b"OggS", 0, at)
    return None


def duration_seconds(head: bytes, tail: bytes) -> float | None:
    """Seconds of audio, or None when this is not Ogg Opus/Vorbis or no granule is found."""
    first = _first_packet(head)
    if first is None:
        return None
    serial, packet = first
    clock = _clock(packet)
    granule = last_granule(tail, serial)
    if clock is None or granule is None:
        return None
    rate, skip = clock
    return max(granule - skip, 0) / rate
