"""A streaming ASGI response for media: headers first, then parts, readers always closed.

Readers for the first part are opened before the headers go out (so a missing object is a clean
error, not a broken stream). A client that disconnects mid-body cancels the stream at once and
every open reader is closed, so an aborted seek never leaks a connection or a descriptor.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Opener = Callable[[], Awaitable[AsyncIterable[bytes]]]


@dataclass
class Part:
    prefix: bytes  # multipart part header, or b""
    open: Opener | None  # bytes of the part, opened when the part is reached


async def _close(stream: AsyncIterable[bytes]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is None:
        return
    if getattr(stream, "closes_at_once", False):
        await closer()  # it never waits, so no cancellation can cut it short: nothing to shield
        return
    with anyio.CancelScope(shield=True):
        await closer()


async def _pass(send: Send, held: bytes, block: bytes) -> bytes:
    """Send what was held (if anything) and hold `block` instead."""
    if held:
        await send({"type": "http.response.body", "body": held, "more_body": True})
    return block


class MediaResponse(Response):
    """A Response whose body is streamed part by part, never held.

    Like Starlette's FileResponse it skips `Response.__init__` (which renders a body) and sets
    its headers with `init_headers`, so `.headers` reads and changes what is sent.
    """

    media_type = None

    def __init__(
        self,
        status: int,
        headers: Sequence[tuple[str, str]],
        parts: Sequence[Part] = (),
        first: AsyncIterable[bytes] | None = None,
        trailer: bytes = b"",
        send_body: bool = True,
        watch: bool = True,
    ) -> None:
        self.status_code = status
        self.background = None
        self.init_headers(dict(headers))
        self.parts = list(parts)
        self.first = first  # already-open stream of the first part
        self.trailer = trailer
        self.send_body = send_body
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            if self.send_body and not self.watch:
                await self._stream(send)
            elif self.send_body:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
                    await self._stream(send)
                    group.cancel_scope.cancel()
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self.first is not None:
                await _close(self.first)
                self.first = None

    async def _stream(self, send: Send) -> None:
        # Each block is sent once the next one (or the end) is known, so the last block carries
        # the end of the body: a one-block answer (a seek) is one message, not two.
        held = b""
        for index, part in enumerate(self.parts):
            if part.prefix:
                held = await _pass(send, held, part.prefix)
            if index == 0 and self.first is not None:
                stream, self.first = self.first, None
            elif part.open is not None:
                stream = await part.open()
            else:
                continue
            try:
                async for block in stream:
                    held = await _pass(send, held, block)
            finally:
                await _close(stream)
        if self.trailer:
            held = await _pass(send, held, self.trailer)
        await send({"type": "http.response.body", "body": held, "more_body": False})

    @staticmethod
    async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return
