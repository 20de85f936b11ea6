"""MediaResponse (lite/http/streaming.py) and `_respond`: readers opened before the headers,
closed always, cancelled at once when the client goes away.

Unit tests drive the ASGI response directly with fake readers that record what happened to them;
wire tests abort hundreds of real streams of a large recording on local disk and SeaweedFS and
look at the server's descriptors and its S3 connections from /proc.
"""

from __future__ import annotations

import gc
import random
import time
import warnings
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from starlette.requests import Request

from lite import keys
from lite.errors import NotFound
from lite.http.playback import _respond
from lite.http.streaming import MediaResponse, Part
from lite.playback import Source
from tests.playkit import (
    BACKENDS,
    IDENTITY,
    USER,
    Deployment,
    deploy,
    parse_content_range,
    split_multipart,
    wav_upload,
)
from tests.servers import s3_client

MIB = 1024 * 1024
ABORTS = 200
FOLLOW_UPS = 50
SETTLE_SECONDS = 15
S3_POOL = 256  # lite.storage.s3.S3Options.max_pool_connections

# --- fakes ----------------------------------------------------------------------------------------


@dataclass
class FakeReader:
    """An async byte iterator with `aclose`, like LocalReader and S3Reader; records its life."""

    name: str
    blocks: list[bytes]
    log: list[str]
    forever: bool = False
    closed: bool = False
    served: int = 0

    def __aiter__(self) -> FakeReader:
        return self

    async def __anext__(self) -> bytes:
        assert not self.closed, f"{self.name} read after close"
        await anyio.lowlevel.checkpoint()  # a real reader yields to the loop on every block
        if self.forever:
            self.served += 1
            return b"x" * 1024
        if self.served == len(self.blocks):
            raise StopAsyncIteration
        self.served += 1
        return self.blocks[self.served - 1]

    async def aclose(self) -> None:
        self.closed = True
        self.log.append(f"close {self.name}")


@dataclass
class Client:
    """The ASGI server side: records messages; `disconnect` makes receive() report the client
    gone; `fail_after` makes send() raise like a transport that broke."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    disconnect: anyio.Event = field(default_factory=anyio.Event)
    fail_after: int | None = None
    requested: bool = False

    async def receive(self) -> dict[str, Any]:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        bodies = [m for m in self.messages if m["type"] == "http.response.body"]
        if self.fail_after is not None and len(bodies) >= self.fail_after:
            raise OSError("connection reset")
        self.messages.append(dict(message))

    @property
    def status(self) -> int:
        status: int = self.messages[0]["status"]
        return status

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.messages[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    @property
    def finished(self) -> bool:
        last = self.messages[-1]
        return last["type"] == "http.response.body" and not last.get("more_body", False)


SCOPE = {"type": "http", "method": "GET", "path": "/raw", "headers": []}


async def call(response: MediaResponse, client: Client) -> None:
    with anyio.fail_after(5):
        await response(SCOPE, client.receive, client.send)


# --- MediaResponse -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_parts_stream_in_order_and_every_reader_closes() -> None:
    log: list[str] = []
    first = FakeReader("a", [b"A1", b"A2"], log)
    later = FakeReader("b", [b"B1"], log)

    async def open_later() -> FakeReader:
        log.append("open b")
        return later

    response = MediaResponse(
        206,
        [("Content-Type", "multipart/byteranges; boundary=X")],
        [Part(b"<a>", None), Part(b"<b>", open_later)],
        first,
        b"<end>",
    )
    client = Client()
    await call(response, client)
    assert client.status == 206
    assert client.headers["content-type"] == "multipart/byteranges; boundary=X"
    assert client.body == b"<a>A1A2<b>B1<end>"
    assert client.finished
    assert log == ["close a", "open b", "close b"]  # b opened only once a was done


@pytest.mark.anyio
async def test_client_disconnect_mid_body_cancels_and_closes() -> None:
    log: list[str] = []
    endless = FakeReader("a", [], log, forever=True)
    never = FakeReader("b", [b"never"], log)

    async def open_never() -> FakeReader:
        log.append("open b")
        return never

    response = MediaResponse(200, [], [Part(b"", None), Part(b"", open_never)], endless)
    client = Client()

    async def hang_up() -> None:
        while endless.served < 20:
            await anyio.lowlevel.checkpoint()
        client.disconnect.set()

    async with anyio.create_task_group() as group:
        group.start_soon(hang_up)
        await call(response, client)  # an endless body: only the disconnect can end it
    assert endless.closed
    assert log == ["close a"]  # the next part was never opened
    assert not client.finished
    assert response.first is None


@pytest.mark.anyio
async def test_broken_transport_still_closes_the_reader() -> None:
    log: list[str] = []
    endless = FakeReader("a", [], log, forever=True)
    response = MediaResponse(200, [], [Part(b"", None)], endless)
    client = Client(fail_after=3)
    with pytest.raises((OSError, BaseExceptionGroup)):
        await call(response, client)
    assert endless.closed and log == ["close a"]


@pytest.mark.anyio
async def test_no_body_response_closes_an_opened_reader() -> None:
    log: list[str] = []
    opened = FakeReader("a", [b"data"], log)
    response = MediaResponse(200, [("Content-Length", "4")], [Part(b"", None)], opened, b"", False)
    client = Client()
    await call(response, client)
    assert client.body == b"" and client.finished
    assert opened.closed and opened.served == 0


@pytest.mark.anyio
async def test_headers_are_a_starlette_response_s_and_changes_are_sent() -> None:
    log: list[str] = []
    response = MediaResponse(
        200,
        [("Content-Length", "2"), ("ETag", '"t"')],
        [Part(b"", None)],
        FakeReader("a", [b"ab"], log),
    )
    assert response.headers["content-length"] == "2"
    assert response.headers["etag"] == '"t"'
    assert "content-type" not in response.headers  # none given, none invented
    response.headers["Retry-After"] = "5"
    client = Client()
    await call(response, client)
    assert client.headers == {"content-length": "2", "etag": '"t"', "retry-after": "5"}
    assert client.body == b"ab"


# --- _respond with a fake Source -----------------------------------------------------------------

MODIFIED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
MODIFIED_HTTP = "Mon, 06 May 2024 07:08:09 GMT"


@dataclass
class FakeSource:
    data: bytes
    fail: Exception | None = None
    opens: list[tuple[int, int]] = field(default_factory=list)
    readers: list[FakeReader] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def source(self) -> Source:
        async def open_range(start: int, end: int) -> FakeReader:
            self.opens.append((start, end))
            if self.fail is not None:
                raise self.fail
            reader = FakeReader(f"{start}-{end}", [self.data[start : end + 1]], self.log)
            self.readers.append(reader)
            return reader

        return Source(len(self.data), '"tag"', MODIFIED, "audio/webm", open_range)


def request_for(method: str, headers: dict[str, str]) -> Request:
    settings = SimpleNamespace(lite_max_ranges=16, lite_cache_max_age=60)
    state = {"services": SimpleNamespace(settings=settings)}
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {**SCOPE, "method": method, "headers": raw, "state": state, "query_string": b""}
    return Request(scope)


async def respond(fake: FakeSource, method: str, headers: dict[str, str]) -> Client:
    response = await _respond(request_for(method, headers), fake.source(), "inline")
    client = Client()
    await call(response, client)
    return client


@pytest.mark.anyio
async def test_first_reader_is_opened_before_the_headers() -> None:
    """A failing open (object gone, S3 down) raises out of _respond: nothing was sent yet, so
    the error handler can still answer with a clean status."""
    fake = FakeSource(b"0123456789")
    response = await _respond(request_for("GET", {"Range": "bytes=2-5"}), fake.source(), "x")
    assert fake.opens == [(2, 5)]  # opened while building the response, before __call__
    client = Client()
    await call(response, client)
    assert client.status == 206 and client.body == b"2345"
    assert all(reader.closed for reader in fake.readers)

    broken = FakeSource(b"0123456789", fail=NotFound("gone"))
    with pytest.raises(NotFound):
        await _respond(request_for("GET", {}), broken.source(), "x")


@pytest.mark.anyio
async def test_multipart_opens_ranges_lazily_and_closes_them() -> None:
    fake = FakeSource(bytes(range(100)))
    client = await respond(fake, "GET", {"Range": "bytes=0-1,10-11,-2"})
    assert client.status == 206
    parts = split_multipart(client.headers["content-type"], client.body)
    assert [p.payload for p in parts] == [b"\x00\x01", b"\x0a\x0b", b"\x62\x63"]
    assert int(client.headers["content-length"]) == len(client.body)
    assert fake.opens == [(0, 1), (10, 11), (98, 99)]
    assert all(reader.closed for reader in fake.readers)
    assert fake.log == ["close 0-1", "close 10-11", "close 98-99"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_head_never_opens_the_object(method: str) -> None:
    fake = FakeSource(b"0123456789")
    client = await respond(fake, method, {"Range": "bytes=0-1,4-5"})
    assert client.status == 206
    if method == "HEAD":
        assert fake.opens == [] and client.body == b""
    else:
        assert fake.opens == [(0, 1), (4, 5)] and client.body


# The zero-byte representation: ingest cannot make one (an empty chunk adds nothing; with no
# data the media file is "nothing to play yet", 422, and a WAV master always has its 44-byte
# header), so it is covered here. RFC 9110 §14.1.1/§15.5.17: every byte range of an empty
# representation is unsatisfiable (Content-Range has no form for an empty 206).
ZERO_BYTE_CASES = [
    ({}, 200, None),
    ({"Range": "bytes=0-"}, 416, "bytes */0"),
    ({"Range": "bytes=0-0"}, 416, "bytes */0"),
    ({"Range": "bytes=0-1"}, 416, "bytes */0"),
    ({"Range": "bytes=-1"}, 416, "bytes */0"),
    ({"Range": "bytes=0-0,-1"}, 416, "bytes */0"),
    ({"Range": "bytes=a-b"}, 200, None),
    ({"Range": "items=0-"}, 200, None),
    ({"Range": "bytes=0-", "If-Range": '"stale"'}, 200, None),
    ({"If-None-Match": '"tag"'}, 304, None),
    ({"If-Modified-Since": MODIFIED_HTTP}, 304, None),
]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(("headers", "status", "content_range"), ZERO_BYTE_CASES)
async def test_zero_byte_object(
    method: str, headers: dict[str, str], status: int, content_range: str | None
) -> None:
    fake = FakeSource(b"")
    client = await respond(fake, method, headers)
    assert client.status == status
    assert client.body == b"" and client.finished
    assert fake.opens == []  # nothing to read, nothing opened
    assert client.headers.get("content-range") == content_range
    assert client.headers["etag"] == '"tag"'
    assert client.headers["accept-ranges"] == "bytes"
    if status != 304:
        assert client.headers["content-length"] == "0"
    if status == 200:
        assert client.headers["content-type"] == "audio/webm"


# --- over the wire: aborted streams ---------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"streaming-{request.param}")
    with deploy(request.param, workdir, request) as deployment:
        # 48 kHz stereo 16-bit, 48 s: 9.2 MB, in four chunks.
        deployment.add("big", wav_upload(48, 4, 48000, 2, 2, seed=1, fast=True))
        deployment.add("doomed", wav_upload(2, 1, seed=2))
        yield deployment


def settled(measure: Any, limit: int) -> int:
    """Poll `measure()` until it is at most `limit` or the deadline passes; the last value."""
    deadline = time.monotonic() + SETTLE_SECONDS
    value: int = measure()
    while value > limit and time.monotonic() < deadline:
        time.sleep(0.1)
        value = measure()
    return value


def bytes_read(site: Deployment) -> int:
    """Bytes the app read with read()/pread() (its files; socket reads do not count here)."""
    with open(f"/proc/{site.pid}/io") as stats:
        fields = dict(line.split(": ", 1) for line in stats.read().splitlines())
    return int(fields["rchar"])


def stable_fd_count(site: Deployment) -> int:
    """The server's descriptor count once it stops changing (closed keep-alives linger)."""
    previous, deadline = -1, time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        current = site.fd_count()
        if current == previous:
            return current
        previous = current
        time.sleep(0.3)
    return previous


def test_recording_is_large(site: Deployment) -> None:
    assert site.media["big"].size >= 8 * MIB


def test_aborted_streams_leak_nothing(site: Deployment) -> None:
    media = site.media["big"]
    size = media.size
    variants = [
        ({}, 200, 0),
        ({"Range": "bytes=1000-"}, 206, 1000),
        ({"Range": f"bytes={size // 2}-{size - 2}"}, 206, size // 2),
        ({"Range": f"bytes=0-{3 * MIB},{5 * MIB}-{8 * MIB}"}, 206, None),  # multipart
    ]
    with httpx.Client(base_url=site.url, headers=IDENTITY, timeout=30) as warm:
        assert warm.get(media.raw_path, headers=site.auth(Range="bytes=0-9")).status_code == 206
    baseline = stable_fd_count(site)
    baseline_s3 = site.s3_connections()
    read_before = bytes_read(site)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with httpx.Client(base_url=site.url, headers=IDENTITY, timeout=30) as client:
            for turn in range(ABORTS):
                headers, status, start = variants[turn % len(variants)]
                with client.stream("GET", media.raw_path, headers=site.auth(**headers)) as answer:
                    assert answer.status_code == status
                    assert int(answer.headers["content-length"]) > 2 * MIB
                    block = next(answer.iter_raw(64 * 1024))
                    if start is None:
                        assert block.startswith(b"\r\n--")
                    else:
                        assert block == media.body[start : start + len(block)]
                # Leaving the block closes the connection with most of the body unread.
        gc.collect()
    leaked = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaked, [str(w.message) for w in leaked]
    if site.backend == "local":
        # The server stopped reading when the client left: a fraction of each body was read.
        per_stream = (bytes_read(site) - read_before) / ABORTS
        assert per_stream < size / 2, f"{per_stream:.0f} bytes read per aborted stream"

    assert settled(site.fd_count, baseline + 4) <= baseline + 4, "descriptors leaked"
    assert settled(site.open_media_files, 0) == 0, "media files left open"
    assert settled(site.s3_connections, baseline_s3 + 4) <= baseline_s3 + 4, "S3 bodies left open"

    rng = random.Random(4)
    with httpx.Client(base_url=site.url, headers=IDENTITY, timeout=30) as client:
        for _ in range(FOLLOW_UPS):
            start = rng.randrange(size)
            end = min(size - 1, start + rng.randrange(1, 512 * 1024))
            got = client.get(media.raw_path, headers=site.auth(Range=f"bytes={start}-{end}"))
            assert got.status_code == 206
            assert parse_content_range(got.headers["content-range"]) == (start, end, size)
            assert got.content == media.slice(start, end)
        whole = client.get(media.raw_path, headers=site.auth())
        assert whole.status_code == 200 and whole.content == media.body


def test_concurrent_aborts_then_full_reads(site: Deployment) -> None:
    """Sixteen clients abort 128 streams at once (a seek storm), then read the whole file in
    parallel. On S3 that is twice the app's connection pool (64): a GetObject body left open
    would hold a pooled connection for good, and the pool would run dry."""
    media = site.media["big"]
    baseline = stable_fd_count(site) - site.s3_connections()
    results: list[bool] = []

    def abort_then_read(index: int) -> None:
        with httpx.Client(base_url=site.url, headers=IDENTITY, timeout=60) as client:
            ranged = site.auth(Range=f"bytes={index * 4096}-")
            for _ in range(8):
                with client.stream("GET", media.raw_path, headers=ranged) as answer:
                    next(answer.iter_raw(16 * 1024))
            # Connection: close, so only the aborts are measured (see the keep-alive test).
            got = client.get(media.raw_path, headers=site.auth(Connection="close"))
            results.append(got.status_code == 200 and got.content == media.body)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for index in range(16):
                group.start_soon(anyio.to_thread.run_sync, abort_then_read, index)

    anyio.run(main)
    assert results == [True] * 16
    # Idle pooled S3 connections stay (aiohttp closes them after its keep-alive timeout), but
    # never more than the pool holds.
    assert site.s3_connections() <= S3_POOL
    final = settled(lambda: site.fd_count() - site.s3_connections(), baseline + 4)
    assert final <= baseline + 4
    assert settled(site.open_media_files, 0) == 0


def test_keepalive_connection_closed_by_the_client_is_released(site: Deployment) -> None:
    """A player that finishes a request and closes its idle keep-alive connection: the server
    must close its end too, not hold the socket (CLOSE-WAIT) until its keep-alive timeout, so
    sixteen such players do not cost sixteen descriptors for the next minute and more."""
    media = site.media["big"]
    ports = set()
    for index in range(16):
        with httpx.Client(base_url=site.url, headers=IDENTITY, timeout=30) as client:
            got = client.get(media.raw_path, headers=site.auth(Range=f"bytes={index}-{index}"))
            assert got.status_code == 206 and got.content == media.slice(index, index)
            ports.add(got.extensions["network_stream"].get_extra_info("client_addr")[1])
    assert len(ports) == 16
    held = settled(lambda: len(ports & site.open_client_ports()), 0)
    assert held == 0, f"{held} of 16 closed keep-alive connections still held by the server"


def test_missing_master_is_a_clean_error_not_a_broken_stream(site: Deployment) -> None:
    """The first reader opens before the headers: a master that vanished from the store is an
    error status with a JSON body, never a 200 whose body stops short."""
    media = site.media["doomed"]
    assert site.http.get(media.raw_path, headers=site.auth()).status_code == 200
    key = keys.master_key(USER, media.recording_id, media.session_uid, "audio", "wav")
    if site.backend == "local":
        (site.workdir / "recordings" / key).unlink()
    else:
        client = s3_client(site.s3_endpoint)
        try:
            client.delete_object(Bucket=site.bucket, Key=key)
        finally:
            client.close()
    for headers in ({}, {"Range": "bytes=0-"}, {"Range": "bytes=0-1,10-11"}):
        answer = site.http.get(media.raw_path, headers=site.auth(**headers))
        assert answer.status_code == 404, (answer.status_code, answer.headers)
        assert answer.headers["content-type"] == "application/json"
        assert "content-range" not in answer.headers
        assert answer.json()["error"]["code"] == "not_found"
    # The server is fine afterwards.
    big = site.media["big"]
    assert site.http.get(big.raw_path, headers=site.auth(Range="bytes=0-3")).content == b"RIFF"
