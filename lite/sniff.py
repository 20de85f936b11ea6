"""What the first bytes of an upload look like, checked against the format it was declared as. Pure.

A recorder that sends WAV bytes as audio/mp4 would get a "completed" m4a nobody can play; the
door refuses such a chunk before anything is stored (415, naming both formats).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from lite import ebml, media
from lite.errors import UnsupportedMediaType

SNIFF_BYTES = 64  # enough for every signature below, the WebM DocType included
_FAMILY = {  # our extension -> the container its bytes must be
    "wav": "wav",
    "webm": "webm",
    "ogg": "ogg",
    "opus": "ogg",
    "mp3": "mp3",
    "m4a": "mp4",
    "mp4": "mp4",
}
_NAMES = {
    "wav": "WAV (RIFF/WAVE)",
    "webm": "WebM (EBML, DocType webm)",
    "matroska": "Matroska (EBML, DocType matroska)",
    "ogg": "Ogg (OggS)",
    "mp4": "MP4 (ftyp)",
    "mp3": "MPEG audio",
}
# MPEG audio frame sync: 11 set bits, then a version other than "reserved" and a layer.
_MP3_SYNC = 0xFFE0


def detect(head: bytes) -> str | None:
    """The container of these first bytes, or None when they match none we accept."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if media.has_ebml_header(head):
        return _ebml_kind(head)
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:3] == b"ID3" or _mpeg_frame(head):
        return "mp3"
    return None


def _ebml_kind(head: bytes) -> str | None:
    try:
        header = ebml.read_header(head, 0)
        if header is None or header[1] == ebml.UNKNOWN or header[2] + header[1] > len(head):
            return "webm" if b"webm" in head else None  # cut short: trust its DocType text
        kind = ebml.doc_type(head[header[2] : header[2] + header[1]])
    except ebml.EbmlError:
        return None
    return kind if kind in ("webm", "matroska") else None


def _mpeg_frame(head: bytes) -> bool:
    if len(head) < 4:
        return False
    word = int.from_bytes(head[:2], "big")
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return (
        word & _MP3_SYNC == _MP3_SYNC
        and version != 1
        and layer != 0
        and bitrate != 15
        and rate != 3
    )


def check(declared_ext: str, head: bytes, *, continuation: bool = False) -> None:
    """Raise UnsupportedMediaType unless `head` starts a file of the declared format.

    A continuation (a WebM chunk after the first, which carries no header) is not checked, and
    neither is an empty chunk (a final marker).
    """
    if continuation or not head:
        return
    family = _FAMILY.get(declared_ext)
    found = detect(head)
    matches = found == family or (family == "webm" and found == "matroska")
    if family is None or matches:
        return
    looks = (
        _NAMES[found] if found else f"none of the accepted formats (first bytes {head[:8].hex()})"
    )
    raise UnsupportedMediaType(
        f"declared as {declared_ext} ({_NAMES[family]}), but the bytes look like {looks}",
        declared=declared_ext,
        detected=found or "unknown",
    )


async def peek(
    body: AsyncIterable[bytes], size: int = SNIFF_BYTES
) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes of a stream (fewer if it is shorter), and the whole stream again."""
    source = aiter(body)
    head = b""
    while len(head) < size:
        try:
            head += await anext(source)
        except StopAsyncIteration:
            break

    async def replay() -> AsyncIterator[bytes]:
        if head:
            yield head
        async for block in source:
            yield block

    return head[:size], replay()
