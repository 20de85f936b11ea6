"""Format checks at the door: the first bytes must be the declared format, else 415 and nothing
is stored. Signatures here are written from the format specifications, not from `lite.sniff`."""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator

import pytest

from lite.errors import UnsupportedMediaType
from lite.sniff import check, detect, peek
from lite.storage.base import Storage
from tests.mediafiles import make_wav, make_webm
from tests.test_ingest import Service

pytestmark = pytest.mark.anyio

OGG = b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead"
MP4 = struct.pack(">I", 24) + b"ftypisom" + bytes(12)
MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(60)  # MPEG-1 layer III, 128 kbit/s
ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + MP3_FRAME
MATROSKA = bytes.fromhex("1a45dfa3") + bytes([0x80 | 11]) + bytes.fromhex("4282") + b"\x88matroska"
RANDOM = random.Random(5).randbytes(64)


@pytest.fixture
def service(tmp_path: object) -> Service:
    from lite.storage.local import LocalStorage

    return Service(LocalStorage(f"{tmp_path}/store", fsync=False))


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (OGG, "ogg"),
        (MP4, "mp4"),
        (MP3_FRAME, "mp3"),
        (ID3, "mp3"),
        (MATROSKA, "matroska"),
        (RANDOM, None),
        (b"RIFF\x00\x00\x00\x00AVI ", None),
        (b"", None),
    ],
)
def test_detect(head: bytes, kind: str | None) -> None:
    assert detect(head) == kind


def test_detect_real_files() -> None:
    assert detect(make_wav(0.1)[:64]) == "wav"
    assert detect(make_webm(0.5)[:64]) == "webm"


@pytest.mark.parametrize(
    ("declared", "head"),
    [("ogg", OGG), ("opus", OGG), ("m4a", MP4), ("mp4", MP4), ("mp3", ID3), ("webm", MATROSKA)],
)
def test_matching_formats_pass(declared: str, head: bytes) -> None:
    check(declared, head)


@pytest.mark.parametrize(
    ("declared", "head", "declared_name", "looks"),
    [
        ("m4a", make_wav(0.1)[:64], "MP4 (ftyp)", "WAV (RIFF/WAVE)"),
        ("wav", bytes.fromhex("1a45dfa3") + b"\x9f" + bytes(20) + b"webm", "WAV", "WebM"),
        ("webm", RANDOM, "WebM", "none of the accepted formats"),
        ("ogg", MP4, "Ogg", "MP4"),
    ],
)
def test_mismatches_name_both_formats(
    declared: str, head: bytes, declared_name: str, looks: str
) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        check(declared, head)
    assert f"declared as {declared} ({declared_name}" in caught.value.message
    assert looks in caught.value.message
    assert caught.value.details["declared"] == declared


def test_empty_and_continuation_chunks_are_not_checked() -> None:
    check("webm", b"")
    check("webm", RANDOM, continuation=True)


async def test_peek_gives_the_head_and_the_whole_stream_back() -> None:
    async def body() -> AsyncIterator[bytes]:
        for piece in (b"RI", b"FF", b"\x00" * 100, b"tail"):
            yield piece

    head, replay = await peek(body(), 16)
    assert head == b"RIFF" + bytes(12)
    assert b"".join([b async for b in replay]) == b"RIFF" + bytes(100) + b"tail"


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("m4a", make_wav(0.2)),  # WAV as mp4
        ("wav", make_webm(0.5)),  # WebM as wav
        ("webm", RANDOM * 100),  # random bytes as webm
    ],
)
async def test_a_mismatch_stores_nothing_and_creates_no_recording(
    service: Service, fmt: str, data: bytes
) -> None:
    with pytest.raises(UnsupportedMediaType):
        await service.send("bad", 0, data, fmt=fmt, final=True)
    assert await service.session("bad") is None
    storage: Storage = service.storage
    assert [info.key async for info in storage.list("")] == []
