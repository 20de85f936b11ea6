"""An HTTP/1.1 proxy between the bot and the app for faults a healthy server never makes: a
response cut off after the app stored the chunk, and a chunk refused every time it is sent.

Rules name a chunk by its `chunk_seq` form field (the bot sends one chunk per request). Runs in a
thread with its own event loop; `responses` keeps what the app answered, per seq, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import defaultdict
from typing import Any

_SEQ = re.compile(rb'name="chunk_seq"\r\n\r\n(\d+)\r\n')
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class FaultProxy:
    def __init__(
        self, upstream: str, cut: frozenset[int] = frozenset(), refuse: frozenset[int] = frozenset()
    ) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.cut = set(cut)  # seqs whose first response is cut off (the app did store the chunk)
        self.refuse = set(refuse)  # seqs answered 503 every time, never forwarded
        self.responses: dict[int, list[bytes]] = defaultdict(list)
        self.attempts: dict[int, int] = defaultdict(int)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._relay(reader, writer)
        finally:  # also when cancelled at shutdown: no socket outlives the proxy
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while request := await _read_message(reader):
                match = _SEQ.search(request)
                seq = int(match.group(1)) if match else -1
                self.attempts[seq] += 1
                if seq in self.refuse:
                    body = b"refused by the fault proxy"
                    head = (
                        f"HTTP/1.1 503 Service Unavailable\r\nContent-Length: {len(body)}\r\n\r\n"
                    )
                    writer.write(head.encode() + body)
                    await writer.drain()
                    continue
                response = await self._forward(request)
                self.responses[seq].append(response)
                if seq in self.cut and self.attempts[seq] == 1:
                    break  # the app stored the chunk; the bot never hears so
                writer.write(response)
                await writer.drain()

    async def _forward(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            writer.write(request)
            await writer.drain()
            response = await _read_message(reader)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return response


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP message with a Content-Length body (what the bot and the app send)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as partial:
        if partial.partial:
            raise
        return b""
    length = _LENGTH.search(head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return head + body


def json_body(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]
