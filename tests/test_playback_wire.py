"""`/raw` over real Hypercorn on local disk and SeaweedFS.

The request path is in docs/architecture.md, The life of a /raw request.

Written from RFC 9110 §13-§15, not from `lite.ranges` (whose unit tests are in test_ranges.py):
every case sends real headers to a real server, compares the body byte for byte with the bytes
computed from the upload, and sends the same request as HEAD, which must mirror GET's headers
(the decision taken for this project, Range included) with no body.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from lite.tokens import sign_raw
from tests import mediafiles
from tests.playkit import (
    BACKENDS,
    CACHE_MAX_AGE,
    SIGNING_KEY,
    USER,
    Deployment,
    Media,
    deploy,
    parse_content_range,
    split_multipart,
    wav_upload,
    webm_upload,
)

PLAYER = "http://player.example"
MEDIA = ["wav", "webm"]


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"wire-{request.param}")
    with deploy(request.param, workdir, request, LITE_CORS_ORIGINS=PLAYER) as deployment:
        deployment.add("wav", wav_upload(20, 4))
        deployment.add("webm", webm_upload(20, 5))
        yield deployment


def head_get(
    site: Deployment, media: Media, headers: dict[str, str], path: str | None = None
) -> tuple[httpx.Response, httpx.Response]:
    """The same request as GET and as HEAD."""
    target = path or media.raw_path
    got = site.http.get(target, headers=site.auth(**headers))
    headed = site.http.head(target, headers=site.auth(**headers))
    return got, headed


_VARYING = {"date", "server", "x-request-id"}


def comparable(response: httpx.Response) -> dict[str, str]:
    """Headers minus the per-response ones; a multipart boundary is random per response."""
    out = {k: v for k, v in response.headers.items() if k not in _VARYING}
    if out.get("content-type", "").startswith("multipart/byteranges"):
        out["content-type"] = out["content-type"].split(";")[0]
    return out


# --- the range table ---------------------------------------------------------------------------

WHOLE = "whole"


@dataclass(frozen=True)
class Case:
    """Headers may use {size}, {last} (size - 1), {etag}, {stale}, {lm} (Last-Modified),
    {before} and {after} (a day before it, 30 s after it)."""

    name: str
    headers: dict[str, str]
    status: int
    # 206: inclusive (start, end) spans, as format strings of {size}; 200: WHOLE
    spans: tuple[tuple[str, str], ...] | str = ()
    extra: dict[str, str] = field(default_factory=dict)


def ranges_of(count: int, step: int) -> str:
    return "bytes=" + ",".join(f"{i * step}-{i * step}" for i in range(count))


CASES = [
    Case("no-range", {}, 200, WHOLE),
    Case("0-", {"Range": "bytes=0-"}, 206, (("0", "{size}-1"),)),
    Case("0-0 first byte", {"Range": "bytes=0-0"}, 206, (("0", "0"),)),
    Case("0-1 safari probe", {"Range": "bytes=0-1"}, 206, (("0", "1"),)),
    Case("-1 last byte", {"Range": "bytes=-1"}, 206, (("{size}-1", "{size}-1"),)),
    Case("-500 suffix", {"Range": "bytes=-500"}, 206, (("{size}-500", "{size}-1"),)),
    Case("-N past size clamped", {"Range": "bytes=-{size}0"}, 206, (("0", "{size}-1"),)),
    Case("N- open end", {"Range": "bytes=1000-"}, 206, (("1000", "{size}-1"),)),
    Case("a-b inside", {"Range": "bytes=100-1123"}, 206, (("100", "1123"),)),
    Case("end past size clamped", {"Range": "bytes=1000-{size}9"}, 206, (("1000", "{size}-1"),)),
    Case("last byte by offset", {"Range": "bytes={last}-"}, 206, (("{size}-1", "{size}-1"),)),
    Case("unit case-insensitive", {"Range": "BYTES=3-9"}, 206, (("3", "9"),)),
    Case("start = size", {"Range": "bytes={size}-"}, 416),
    Case("start > size", {"Range": "bytes={size}5-{size}9"}, 416),
    Case("suffix of zero", {"Range": "bytes=-0"}, 416),
    Case("all unsatisfiable", {"Range": "bytes={size}-,{size}1-"}, 416),
    Case("unknown unit", {"Range": "items=0-5"}, 200, WHOLE),
    Case("malformed empty set", {"Range": "bytes="}, 200, WHOLE),
    Case("malformed a-b", {"Range": "bytes=a-b"}, 200, WHOLE),
    Case("malformed 5-4", {"Range": "bytes=5-4"}, 200, WHOLE),
    Case("malformed space before spec", {"Range": "bytes= 0-5"}, 200, WHOLE),
    Case("malformed spaces inside", {"Range": "bytes=0 - 5"}, 200, WHOLE),
    Case("malformed no equals", {"Range": "bytes 0-5"}, 200, WHOLE),
    Case("malformed one bad of two", {"Range": "bytes=0-5,x-9"}, 200, WHOLE),
    Case("two ranges", {"Range": "bytes=0-99,1000-1099"}, 206, (("0", "99"), ("1000", "1099"))),
    Case("two ranges, OWS", {"Range": "bytes=0-1, 4-5"}, 206, (("0", "1"), ("4", "5"))),
    Case(
        "three ranges",
        {"Range": "bytes=0-0,500-599,-100"},
        206,
        (("0", "0"), ("500", "599"), ("{size}-100", "{size}-1")),
    ),
    Case(
        "three ranges, unordered",
        {"Range": "bytes=-10,2000-2009,7-7"},
        206,
        (("7", "7"), ("2000", "2009"), ("{size}-10", "{size}-1")),
    ),
    Case("overlap coalesced", {"Range": "bytes=0-99,50-149"}, 206, (("0", "149"),)),
    Case("adjacent coalesced", {"Range": "bytes=0-99,100-199"}, 206, (("0", "199"),)),
    Case(
        "overlap among three",
        {"Range": "bytes=0-99,50-149,1000-1099"},
        206,
        (("0", "149"), ("1000", "1099")),
    ),
    Case(
        "satisfiable and not",
        {"Range": "bytes=10-19,{size}-"},
        206,
        (("10", "19"),),
    ),
    Case("16 ranges still multipart", {"Range": ranges_of(16, 10)}, 206, "sixteen"),
    Case("17 ranges -> whole", {"Range": ranges_of(17, 10)}, 200, WHOLE),
    Case("200 ranges -> whole", {"Range": ranges_of(200, 10)}, 200, WHOLE),
    Case("sum past size -> whole", {"Range": "bytes=0-,0-"}, 200, WHOLE),
    Case(
        "if-range current etag",
        {"Range": "bytes=10-19", "If-Range": "{etag}"},
        206,
        (("10", "19"),),
    ),
    Case("if-range stale etag", {"Range": "bytes=10-19", "If-Range": "{stale}"}, 200, WHOLE),
    Case("if-range weak etag", {"Range": "bytes=10-19", "If-Range": "W/{etag}"}, 200, WHOLE),
    Case("if-range date", {"Range": "bytes=10-19", "If-Range": "{lm}"}, 206, (("10", "19"),)),
    Case("if-range older date", {"Range": "bytes=10-19", "If-Range": "{before}"}, 200, WHOLE),
    Case(
        "if-range stale, unsatisfiable",
        {"Range": "bytes={size}-", "If-Range": "{stale}"},
        200,
        WHOLE,
    ),
    Case("if-none-match current", {"If-None-Match": "{etag}"}, 304),
    Case("if-none-match weak", {"If-None-Match": "W/{etag}"}, 304),
    Case("if-none-match list", {"If-None-Match": '"x", {etag}'}, 304),
    Case("if-none-match star", {"If-None-Match": "*"}, 304),
    Case("if-none-match stale", {"If-None-Match": "{stale}"}, 200, WHOLE),
    Case("if-none-match beats range", {"If-None-Match": "{etag}", "Range": "bytes=0-9"}, 304),
    Case("if-modified-since lm", {"If-Modified-Since": "{lm}"}, 304),
    Case("if-modified-since later", {"If-Modified-Since": "{after}"}, 304),
    Case("if-modified-since earlier", {"If-Modified-Since": "{before}"}, 200, WHOLE),
    Case(
        "ims ignored under inm",
        {"If-None-Match": "{stale}", "If-Modified-Since": "{lm}"},
        200,
        WHOLE,
    ),
    Case("ims malformed ignored", {"If-Modified-Since": "yesterday"}, 200, WHOLE),
]  # fmt: skip


def fill(text: str, values: dict[str, str]) -> str:
    return text.format(**values)


def offset(expr: str, size: int) -> int:
    """'{size}-100' style offsets, evaluated without eval()."""
    text = expr.format(size=size)
    left, minus, right = text.partition("-")
    return int(left) - int(right) if minus else int(left)


def expected_spans(case: Case, size: int) -> list[tuple[int, int]]:
    if case.spans == "sixteen":
        return [(i * 10, i * 10) for i in range(16)]
    assert isinstance(case.spans, tuple)
    return [(offset(a, size), offset(b, size)) for a, b in case.spans]


def validators(site: Deployment, media: Media) -> dict[str, str]:
    plain = site.http.head(media.raw_path, headers=site.auth())
    assert plain.status_code == 200
    modified = parsedate_to_datetime(plain.headers["last-modified"])
    return {
        "size": str(media.size),
        "last": str(media.size - 1),
        "etag": media.etag,
        "stale": '"' + hashlib.sha256(b"another version").hexdigest() + '"',
        "lm": plain.headers["last-modified"],
        "before": format_datetime(modified - timedelta(days=1), usegmt=True),
        "after": format_datetime(modified + timedelta(seconds=30), usegmt=True),
    }


def check_common(response: httpx.Response, media: Media) -> None:
    """What every answer of /raw carries, whatever its status."""
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == media.etag  # strong: the content's sha256
    assert "content-encoding" not in response.headers
    assert response.headers["cache-control"] == f"private, max-age={CACHE_MAX_AGE}"
    parsedate_to_datetime(response.headers["last-modified"])


@pytest.mark.parametrize("kind", MEDIA)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_range_table(site: Deployment, kind: str, case: Case) -> None:
    media = site.media[kind]
    assert media.size > 4000  # the table's fixed offsets need room
    values = validators(site, media)
    headers = {name: fill(value, values) for name, value in case.headers.items()}
    got, headed = head_get(site, media, headers)
    assert got.status_code == case.status, (got.headers, got.content[:200])
    check_common(got, media)
    assert headed.status_code == got.status_code
    assert comparable(headed) == comparable(got)  # HEAD mirrors GET
    assert headed.content == b""

    if case.status == 304:
        assert got.content == b""
        assert "content-range" not in got.headers
        return
    if case.status == 416:
        assert got.headers["content-range"] == f"bytes */{media.size}"
        assert got.content == b""
        return
    assert int(got.headers["content-length"]) == len(got.content)
    if case.status == 200:
        assert case.spans == WHOLE
        assert "content-range" not in got.headers
        assert got.headers["content-type"] == media.content_type
        assert got.content == media.body
        return
    spans = expected_spans(case, media.size)
    if len(spans) == 1:
        (start, end) = spans[0]
        assert got.headers["content-type"] == media.content_type
        assert got.headers["content-range"] == f"bytes {start}-{end}/{media.size}"
        assert got.content == media.slice(start, end)
        return
    assert "content-range" not in got.headers
    content_type = got.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    parts = split_multipart(content_type, got.content)
    seen = []
    for part in parts:
        assert part.content_type == media.content_type
        start, end, total = parse_content_range(part.content_range)
        assert total == media.size
        assert part.payload == media.slice(start, end), part.content_range
        seen.append((start, end))
    assert sorted(seen) == sorted(spans)


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 30


def test_multipart_framing_is_crlf(site: Deployment) -> None:
    """RFC 9110 §14.6 / RFC 2046: CRLF line endings, a close-delimiter, exact Content-Length."""
    media = site.media["wav"]
    got = site.http.get(media.raw_path, headers=site.auth(Range="bytes=0-3,10-13"))
    boundary = got.headers["content-type"].split("boundary=", 1)[1]
    expected = (
        f"\r\n--{boundary}\r\nContent-Type: audio/wav\r\nContent-Range: bytes 0-3/{media.size}"
        "\r\n\r\n"
    ).encode() + media.slice(0, 3)
    expected += (
        f"\r\n--{boundary}\r\nContent-Type: audio/wav\r\nContent-Range: bytes 10-13/{media.size}"
        "\r\n\r\n"
    ).encode() + media.slice(10, 13)
    expected += f"\r\n--{boundary}--\r\n".encode()
    assert got.content == expected
    assert int(got.headers["content-length"]) == len(expected)


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MEDIA)
def test_headers_of_a_finished_master(site: Deployment, kind: str) -> None:
    media = site.media[kind]
    got = site.http.get(media.raw_path, headers=site.auth())
    assert got.status_code == 200
    check_common(got, media)
    assert got.headers["content-type"] == {"wav": "audio/wav", "webm": "audio/webm"}[kind]
    assert got.headers["content-length"] == str(media.size)
    assert got.headers["content-disposition"] == (
        f"inline; filename=\"{media.filename}\"; filename*=UTF-8''{media.filename}"
    )
    modified = parsedate_to_datetime(got.headers["last-modified"])
    assert modified <= datetime.now(UTC) + timedelta(seconds=2)
    assert hashlib.sha256(got.content).hexdigest() == media.sha256


@pytest.mark.parametrize("kind", MEDIA)
def test_download_flag_makes_an_attachment(site: Deployment, kind: str) -> None:
    media = site.media[kind]
    got, headed = head_get(site, media, {"Range": "bytes=0-9"}, media.raw_path + "?download=1")
    assert got.status_code == headed.status_code == 206
    assert got.headers["content-disposition"].startswith(f'attachment; filename="{media.filename}"')
    assert got.headers["content-disposition"].endswith(f"filename*=UTF-8''{media.filename}")
    assert got.content == media.slice(0, 9)


@pytest.mark.parametrize("encoding", ["gzip", "gzip, deflate, br", "*"])
def test_never_content_encoding(site: Deployment, encoding: str) -> None:
    media = site.media["wav"]
    for extra in ({}, {"Range": "bytes=100-199"}):
        headers = site.auth(**{"Accept-Encoding": encoding, **extra})
        with site.http.stream("GET", media.raw_path, headers=headers) as answer:
            raw = b"".join(answer.iter_raw())
        assert "content-encoding" not in answer.headers
        assert raw == (media.slice(100, 199) if extra else media.body)


def test_wav_master_is_the_uploaded_audio(site: Deployment) -> None:
    """Independent of lite.wav: the stdlib reads back exactly the frames that were sent."""
    media = site.media["wav"]
    body = site.http.get(media.raw_path, headers=site.auth()).content
    params, frames = mediafiles.read_wav(body)
    expected_params, expected_frames = mediafiles.read_wav(media.body)
    assert params == expected_params
    assert frames == expected_frames


# --- in-progress recordings ----------------------------------------------------------------------


def parse_riff(body: bytes) -> tuple[int, int, int]:
    """(RIFF size, data offset, declared data size) of a WAV, read without lite.wav."""
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    riff_size = struct.unpack("<I", body[4:8])[0]
    pos = 12
    while pos + 8 <= len(body):
        chunk_id, size = struct.unpack("<4sI", body[pos : pos + 8])
        if chunk_id == b"data":
            return riff_size, pos + 8, size
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def check_live_wav(body: bytes, rate: int, channels: int, sampwidth: int, frames: bytes) -> None:
    """A valid WAV whose header describes exactly the bytes served."""
    riff_size, data_at, data_size = parse_riff(body)
    assert riff_size == len(body) - 8
    assert data_size == len(frames)
    assert len(body) == data_at + data_size + (data_size & 1)
    with wave.open(io.BytesIO(body), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels()) == (rate, channels)
        assert reader.getsampwidth() == sampwidth
        assert reader.getnframes() * channels * sampwidth == data_size
        assert reader.readframes(reader.getnframes()) == frames


@pytest.mark.parametrize(
    ("rate", "channels", "sampwidth", "frame_counts"),
    [
        (16000, 1, 2, (16000, 8000, 4000)),
        (8000, 1, 1, (1001, 2003, 3001)),  # 8-bit mono, odd payloads: pad byte after data
    ],
    ids=["pcm16", "pcm8-odd"],
)
def test_in_progress_wav_plays_what_arrived(
    site: Deployment, rate: int, channels: int, sampwidth: int, frame_counts: tuple[int, ...]
) -> None:
    uid = f"live-{uuid.uuid4().hex[:10]}"
    payloads = [mediafiles.pcm(n, channels, sampwidth, seed=i) for i, n in enumerate(frame_counts)]
    wavs = [mediafiles.wav_from_pcm(p, rate, channels, sampwidth) for p in payloads]
    site.put_chunk(uid, 0, wavs[0], "audio/wav")
    site.put_chunk(uid, 1, wavs[1], "audio/wav")
    found = site.recording(uid)
    assert found["status"] == "in_progress"
    path = Media(found["id"], found["media_files"][0]["id"], uid, b"", "audio/wav", 0).raw_path

    first = site.http.get(path, headers=site.auth())
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["content-type"] == "audio/wav"
    assert first.headers["accept-ranges"] == "bytes"
    assert int(first.headers["content-length"]) == len(first.content)
    check_live_wav(first.content, rate, channels, sampwidth, payloads[0] + payloads[1])
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    size = len(first.content)
    for start, end in [(0, 43), (40, 99), (size // 2, size // 2 + 777), (size - 5, size - 1)]:
        part = site.http.get(path, headers=site.auth(Range=f"bytes={start}-{end}"))
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.content == first.content[start : end + 1]
    headed = site.http.head(path, headers=site.auth(Range="bytes=40-99"))
    assert headed.status_code == 206 and headed.headers["content-length"] == "60"

    site.put_chunk(uid, 2, wavs[2], "audio/wav")
    second = site.http.get(path, headers=site.auth())
    assert len(second.content) > size
    assert second.headers["etag"] != etag
    check_live_wav(second.content, rate, channels, sampwidth, b"".join(payloads))
    stale = site.http.get(path, headers=site.auth(Range="bytes=0-9", **{"If-Range": etag}))
    assert stale.status_code == 200 and stale.content == second.content
    assert site.http.get(path, headers=site.auth(**{"If-None-Match": etag})).status_code == 200


def test_in_progress_webm_plays_what_arrived(site: Deployment) -> None:
    upload = webm_upload(6, 4)
    pieces = upload.chunks
    uid = f"livewebm-{uuid.uuid4().hex[:10]}"
    for seq in range(3):
        site.put_chunk(uid, seq, pieces[seq], "audio/webm")
    found = site.recording(uid)
    path = Media(found["id"], found["media_files"][0]["id"], uid, b"", "audio/webm", 0).raw_path
    got = site.http.get(path, headers=site.auth())
    assert got.status_code == 200
    assert got.headers["content-type"] == "audio/webm"
    assert got.headers["cache-control"] == "no-store"
    assert got.content == b"".join(pieces[:3])
    # A range that crosses the boundary between chunk objects 0 and 1.
    cut = len(pieces[0])
    part = site.http.get(path, headers=site.auth(Range=f"bytes={cut - 10}-{cut + 9}"))
    assert part.status_code == 206
    assert part.content == got.content[cut - 10 : cut + 10]
    multi = site.http.get(path, headers=site.auth(Range=f"bytes=0-3,{cut - 1}-{cut}"))
    parts = split_multipart(multi.headers["content-type"], multi.content)
    assert [p.payload for p in parts] == [got.content[0:4], got.content[cut - 1 : cut + 1]]
    site.put_chunk(uid, 3, pieces[3], "audio/webm", final=True)
    done = site.http.get(path, headers=site.auth())
    assert done.content == upload.expected  # finalized: the seekable master
    assert done.headers["cache-control"] == f"private, max-age={CACHE_MAX_AGE}"
    assert done.headers["etag"] == '"' + hashlib.sha256(done.content).hexdigest() + '"'


def test_in_progress_if_range_date_never_splices_versions(site: Deployment) -> None:
    """RFC 9110 §13.1.5 + §8.8.2.2: a Last-Modified date is a strong validator only when the
    server knows the representation did not change twice in that second. A recording still in
    progress changes whenever a chunk arrives, so a date in If-Range must not get a range of a
    newer version (a resumed download would splice two different files)."""
    for _ in range(5):
        uid = f"livedate-{uuid.uuid4().hex[:10]}"
        wavs = [mediafiles.make_wav(0.5, 8000, seed=i) for i in range(2)]
        while time.time() % 1 > 0.2:  # start early in a second: both chunks land in it
            time.sleep(0.05)
        site.put_chunk(uid, 0, wavs[0], "audio/wav")
        found = site.recording(uid)
        path = Media(found["id"], found["media_files"][0]["id"], uid, b"", "audio/wav", 0).raw_path
        before = site.http.head(path, headers=site.auth())
        site.put_chunk(uid, 1, wavs[1], "audio/wav")
        after = site.http.head(path, headers=site.auth())
        if before.headers["last-modified"] != after.headers["last-modified"]:
            continue  # crossed a second boundary: try again
        assert before.headers["etag"] != after.headers["etag"]
        resumed = site.http.get(
            path,
            headers=site.auth(Range="bytes=100-", **{"If-Range": before.headers["last-modified"]}),
        )
        assert resumed.status_code == 200, (
            "If-Range with a Last-Modified date got a range of a changed live recording: "
            f"{resumed.headers.get('content-range')}"
        )
        return
    pytest.skip("could not land two chunks within one second")


def test_unplayable_media_is_a_clean_422(site: Deployment) -> None:
    """Chunks that cannot be joined (WAV formats differ) fail the recording with a reason; a
    recording with only an empty chunk has nothing to play yet. Neither is a 500 or a stream."""
    uid = f"mixed-{uuid.uuid4().hex[:10]}"
    site.put_chunk(uid, 0, mediafiles.make_wav(1, 16000), "audio/wav")
    site.put_chunk(uid, 1, mediafiles.make_wav(1, 8000), "audio/wav", final=True)
    failed = site.recording(uid)
    assert failed["media_files"][0]["status"] == "failed"
    empty_uid = f"empty-{uuid.uuid4().hex[:10]}"
    site.put_chunk(empty_uid, 0, b"", "audio/wav")
    empty = site.recording(empty_uid)
    for found in (failed, empty):
        path = Media(found["id"], found["media_files"][0]["id"], "", b"", "", 0).raw_path
        for method in ("GET", "HEAD"):
            answer = site.http.request(method, path, headers=site.auth(Range="bytes=0-9"))
            assert answer.status_code == 422, (found["session_uid"], method)
            assert "content-range" not in answer.headers
        assert site.http.get(path, headers=site.auth()).json()["error"]["code"]
    failed_path = Media(failed["id"], failed["media_files"][0]["id"], "", b"", "", 0).raw_path
    refused = site.http.get(failed_path.removesuffix("/raw") + "/download", headers=site.auth())
    assert refused.status_code == 422


# --- CORS ----------------------------------------------------------------------------------------

EXPOSED = {"content-range", "accept-ranges", "content-length", "etag"}


def exposed(response: httpx.Response) -> set[str]:
    value = response.headers.get("access-control-expose-headers", "")
    return {name.strip().lower() for name in value.split(",") if name.strip()}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Range": "bytes=0-9"}, 206),
        ({"If-None-Match": "{etag}"}, 304),
        ({"Range": "bytes={size}-"}, 416),
        ({}, 200),
    ],
    ids=["206", "304", "416", "200"],
)
def test_cors_for_an_allowed_player(site: Deployment, headers: dict[str, str], status: int) -> None:
    media = site.media["webm"]
    values = {"etag": media.etag, "size": str(media.size)}
    sent = {k: v.format(**values) for k, v in headers.items()}
    for method in ("GET", "HEAD"):
        answer = site.http.request(method, media.raw_path, headers=site.auth(Origin=PLAYER, **sent))
        assert answer.status_code == status
        assert answer.headers["access-control-allow-origin"] == PLAYER
        assert exposed(answer) >= EXPOSED, answer.headers
        assert "content-encoding" not in answer.headers


def test_cors_on_a_signed_url(site: Deployment) -> None:
    """`<audio crossorigin src=signed>`: no credentials header, the signature in the query."""
    media = site.media["wav"]
    query = sign_raw(SIGNING_KEY.encode(), USER, media.recording_id, media.media_id, 2**31)
    answer = site.http.get(
        f"{media.raw_path}?{query}", headers={"Origin": PLAYER, "Range": "bytes=0-1"}
    )
    assert answer.status_code == 206
    assert answer.content == media.slice(0, 1)
    assert answer.headers["access-control-allow-origin"] == PLAYER
    assert exposed(answer) >= EXPOSED


def test_cors_preflight_allows_range_headers(site: Deployment) -> None:
    media = site.media["wav"]
    answer = site.http.options(
        media.raw_path,
        headers={
            "Origin": PLAYER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range,if-range",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == PLAYER
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"range", "if-range"} <= allowed
    assert "GET" in answer.headers["access-control-allow-methods"]


def test_cors_other_origin_gets_no_allow_header(site: Deployment) -> None:
    media = site.media["wav"]
    other = "http://evil.example"
    answer = site.http.get(media.raw_path, headers=site.auth(Origin=other, Range="bytes=0-9"))
    assert answer.status_code == 206  # the key still works; the browser just cannot read it
    assert "access-control-allow-origin" not in answer.headers
    preflight = site.http.options(
        media.raw_path,
        headers={
            "Origin": other,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert preflight.headers.get("access-control-allow-origin") != other
    assert "access-control-allow-origin" not in preflight.headers
