"""Object reads as plain GETs of presigned URLs (lite/storage/s3get.py): the faults a real S3
server does not produce on demand (a hang, a body cut short, a stale URL, a 5xx), from a small
HTTP server on loopback that answers each request as a test scripts it. Real-server behaviour
(404, 416, metadata, ranges) is in test_storage_contract.py and test_storage_s3.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest

from lite.storage.base import NotFound, Unavailable
from lite.storage.s3 import S3Storage
from lite.storage.s3get import URL_REUSE, URLS_KEPT, SignedUrls
from tests.stores import loopback_s3_options

pytestmark = pytest.mark.anyio

BODY = b"0123456789" * 10
OK = (
    b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: "e1"\r\n'
    b"Last-Modified: Sat, 28 Nov 2026 09:47:13 GMT\r\nX-Amz-Meta-Sha256: abc\r\n\r\n"
)


def error(status: str, code: str) -> bytes:
    body = f"<Error><Code>{code}</Code></Error>".encode()
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


class Scripted:
    """Answers requests as `answer(n, writer)` says; counts requests, connections and URLs."""

    def __init__(self, answer: Callable[[int, asyncio.StreamWriter], object]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.handlers: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.requests.append(head)
                result = self.answer(len(self.requests) - 1, writer)
                if asyncio.iscoroutine(result):
                    await result
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def store_at(scripted: Scripted, attempts: int = 2) -> AsyncIterator[S3Storage]:
    server = await asyncio.start_server(scripted.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options = loopback_s3_options(port, attempts)
    store = await S3Storage("s3", options).open()
    try:
        yield store
    finally:
        await store.aclose()
        server.close()
        for handler in scripted.handlers:
            handler.cancel()
        await asyncio.gather(*scripted.handlers, return_exceptions=True)
        await server.wait_closed()


async def read_all(store: S3Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    reader = await store.open_range(key, start, end)
    try:
        return b"".join([block async for block in reader])
    finally:
        await reader.aclose()


async def test_a_whole_read_returns_the_bytes_and_the_facts_and_reuses_its_connection() -> None:
    scripted = Scripted(lambda n, w: w.write(OK + BODY))
    async with store_at(scripted) as store:
        reader = await store.open_range("k")
        assert reader.info.size == 100 and reader.info.etag == "e1"
        assert reader.info.metadata == {"sha256": "abc"}
        assert reader.info.modified.isoformat() == "2026-11-28T09:47:13+00:00"
        assert b"".join([block async for block in reader]) == BODY
        await reader.aclose()
        assert await read_all(store, "k") == BODY
    assert scripted.connections == 1
    assert [h.split(b" ")[1].split(b"?")[0] for h in scripted.requests] == [b"/b/k"] * 2
    assert b"X-Amz-Signature=" in scripted.requests[0]


async def test_a_range_is_sent_and_the_size_is_the_whole_objects() -> None:
    def partial(n: int, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\n")
        w.write(b'Content-Range: bytes 10-14/100\r\nETag: "e1"\r\n\r\n01234')

    scripted = Scripted(partial)
    async with store_at(scripted) as store:
        reader = await store.open_range("k", 10, 14)
        assert reader.info.size == 100
        await reader.aclose()
    assert b"\r\nRange: bytes=10-14\r\n" in scripted.requests[0]


async def test_a_store_that_never_answers_is_unavailable_within_the_read_timeouts() -> None:
    async def hang(n: int, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with store_at(Scripted(hang), attempts=2) as store:
        started = time.monotonic()
        with anyio.fail_after(8), pytest.raises(Unavailable):
            await store.open_range("k")
        assert time.monotonic() - started < 4  # two attempts of a 1 s read timeout


async def test_a_stream_that_stalls_midway_breaks_as_unavailable() -> None:
    async def stall(n: int, w: asyncio.StreamWriter) -> None:
        w.write(OK + BODY[:10])
        await w.drain()
        await asyncio.sleep(30)

    async with store_at(Scripted(stall)) as store:
        with anyio.fail_after(8), pytest.raises(Unavailable, match="stream broke"):
            await read_all(store, "k")


async def test_a_body_cut_short_breaks_as_unavailable_never_a_short_read() -> None:
    def cut(n: int, w: asyncio.StreamWriter) -> None:
        w.write(OK + BODY[:10])
        w.close()

    async with store_at(Scripted(cut)) as store:
        with anyio.fail_after(8), pytest.raises(Unavailable, match="stream broke"):
            await read_all(store, "k")


async def test_a_5xx_is_retried_up_to_max_attempts() -> None:
    flaky = Scripted(
        lambda n, w: w.write(error("503 Slow Down", "SlowDown") if n == 0 else OK + BODY)
    )
    async with store_at(flaky, attempts=2) as store:
        assert await read_all(store, "k") == BODY
    failing = Scripted(lambda n, w: w.write(error("500 Internal Server Error", "InternalError")))
    async with store_at(failing, attempts=2) as store:
        with pytest.raises(Unavailable, match="InternalError"):
            await store.open_range("k")
    assert len(failing.requests) == 2


async def test_a_403_signs_the_url_anew_once_then_is_unavailable() -> None:
    stale = Scripted(
        lambda n, w: w.write(error("403 Forbidden", "AccessDenied") if n == 0 else OK + BODY)
    )
    async with store_at(stale, attempts=1) as store:
        assert await read_all(store, "k") == BODY
    refused = Scripted(lambda n, w: w.write(error("403 Forbidden", "AccessDenied")))
    async with store_at(refused, attempts=1) as store:
        with pytest.raises(Unavailable, match="credentials"):
            await store.open_range("k")
    assert len(refused.requests) == 2


async def test_error_codes_map_to_the_typed_errors() -> None:
    answers = [error("404 Not Found", "NoSuchKey"), error("404 Not Found", "NoSuchBucket")]
    scripted = Scripted(lambda n, w: w.write(answers[n]))
    async with store_at(scripted) as store:
        with pytest.raises(NotFound):
            await store.open_range("k")
        with pytest.raises(Unavailable, match="bucket"):
            await store.open_range("k")


async def test_an_aborted_read_closes_its_connection() -> None:
    large = 4 * 1024 * 1024

    def answer(n: int, w: asyncio.StreamWriter) -> None:
        if n == 0:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % large + bytes(large))
        else:
            w.write(OK + BODY)

    scripted = Scripted(answer)
    async with store_at(scripted) as store:
        big = await store.open_range("k")
        await big.aclose()  # nothing read: the connection cannot be reused
        assert await read_all(store, "k") == BODY
    assert scripted.connections == 2


async def test_signed_urls_are_reused_for_a_while_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed: list[str] = []

    async def sign(key: str) -> str:
        signed.append(key)
        return f"http://s3.test/b/{key}?X-Amz-Signature={len(signed)}"

    urls = SignedUrls(sign)
    first = await urls.get("a")
    assert await urls.get("a") == first and signed == ["a"]
    urls.forget("a")
    assert await urls.get("a") != first
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + URL_REUSE + 1)
    await urls.get("a")
    assert signed == ["a", "a", "a"]
    for index in range(URLS_KEPT + 10):
        await urls.get(f"k{index}")
    assert len(urls._kept) == URLS_KEPT
