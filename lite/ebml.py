"""EBML (the binary format of Matroska and WebM): read element headers, write elements. Pure.

An element is an ID (a variable-length integer that keeps its length marker), a size (a
variable-length integer without the marker; all value bits set means "unknown size", which live
writers such as MediaRecorder use for the Segment and its Clusters) and a body.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

# Element IDs used here (Matroska specification, RFC 9559).
EBML = 0x1A45DFA3
DOC_TYPE = 0x4282
SEGMENT = 0x18538067
SEEK_HEAD = 0x114D9B74
SEEK = 0x4DBB
SEEK_ID = 0x53AB
SEEK_POSITION = 0x53AC
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
DURATION = 0x4489
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_TYPE = 0x83
CODEC_ID = 0x86
DEFAULT_DURATION = 0x23E383
CLUSTER = 0x1F43B675
TIMECODE = 0xE7
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
BLOCK_DURATION = 0x9B
REFERENCE_BLOCK = 0xFB
CUES = 0x1C53BB6B
CUE_POINT = 0xBB
CUE_TIME = 0xB3
CUE_TRACK_POSITIONS = 0xB7
CUE_TRACK = 0xF7
CUE_CLUSTER_POSITION = 0xF1
CUE_RELATIVE_POSITION = 0xF0
VOID = 0xEC
CRC32 = 0xBF
TAGS = 0x1254C367
CHAPTERS = 0x1043A770
ATTACHMENTS = 0x1941A469

# Children of a Segment: meeting one of these (or a new EBML header) ends an unknown-size Cluster.
TOP_LEVEL = frozenset(
    {SEEK_HEAD, INFO, TRACKS, CLUSTER, CUES, TAGS, CHAPTERS, ATTACHMENTS, EBML, SEGMENT}
)
UNKNOWN = -1
_MAX_ID_LENGTH = 4
_MAX_SIZE_LENGTH = 8


class EbmlError(ValueError):
    """The bytes are not well-formed EBML; the message says where."""


def read_id(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(element ID with its marker, length) at pos, or None when more bytes are needed."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    length = 8 - first.bit_length() + 1 if first else 0
    if not 1 <= length <= _MAX_ID_LENGTH:
        raise EbmlError(f"invalid element ID byte 0x{first:02x}")
    if pos + length > len(buf):
        return None
    return int.from_bytes(buf[pos : pos + length], "big"), length


def read_size(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(size or UNKNOWN, length) at pos, or None when more bytes are needed."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    if not first:
        raise EbmlError("invalid element size (more than 8 bytes)")
    length = 8 - first.bit_length() + 1
    if pos + length > len(buf):
        return None
    value = int.from_bytes(buf[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    return (UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


def read_header(buf: bytes | bytearray, pos: int) -> tuple[int, int, int] | None:
    """(ID, size or UNKNOWN, header length) of the element at pos, or None for more bytes."""
    got_id = read_id(buf, pos)
    if got_id is None:
        return None
    got_size = read_size(buf, pos + got_id[1])
    if got_size is None:
        return None
    return got_id[0], got_size[0], got_id[1] + got_size[1]


def children(body: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(ID, body, offset of the element) for each element of a whole, known-size body."""
    pos = 0
    while pos < len(body):
        header = read_header(body, pos)
        if header is None or header[1] == UNKNOWN or pos + header[2] + header[1] > len(body):
            raise EbmlError(f"truncated element at offset {pos} of a {len(body)}-byte body")
        element_id, size, header_length = header
        start = pos + header_length
        yield element_id, body[start : start + size], pos
        pos = start + size


def uint(body: bytes) -> int:
    return int.from_bytes(body, "big") if body else 0


def encode_id(element_id: int) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")


def encode_size(size: int, width: int | None = None) -> bytes:
    """The size as a variable-length integer: shortest, or `width` bytes (fixed layouts)."""
    length = width or next(n for n in range(1, 9) if size < (1 << (7 * n)) - 1)
    if length > _MAX_SIZE_LENGTH or size >= (1 << (7 * length)) - 1:
        raise EbmlError(f"size {size} does not fit {length} bytes")
    return (size | (1 << (7 * length))).to_bytes(length, "big")


def element(element_id: int, body: bytes) -> bytes:
    return encode_id(element_id) + encode_size(len(body)) + body


def uint_element(element_id: int, value: int, width: int | None = None) -> bytes:
    """An unsigned integer; a fixed `width` keeps positions computable before they are known."""
    length = width or max(1, (value.bit_length() + 7) // 8)
    return element(element_id, value.to_bytes(length, "big"))


def float_element(element_id: int, value: float) -> bytes:
    return element(element_id, struct.pack(">d", value))


def doc_type(header_body: bytes) -> str | None:
    """The DocType of an EBML header's body ("webm", "matroska"), None when absent."""
    for element_id, body, _ in children(header_body):
        if element_id == DOC_TYPE:
            return body.rstrip(b"\0").decode("ascii", "replace")
    return None
