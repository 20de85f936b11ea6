"""One access line per request, and the request id every response carries.

The id comes from a well-formed `X-Request-ID` (a proxy's or the client's), else it is made here;
it is echoed on every response and joins every line logged while the request runs. The access line
names the route template, never the raw path or query, so keys, upload tokens and URL signatures
never reach the log.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lite.http.errors import BODY_RECEIVED, server_error
from lite.logs import BoundLine, end_request, request_value, start_request

log = logging.getLogger("lite.access")
_line = BoundLine(log, logging.INFO, "request")
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")
HEADER = b"x-request-id"


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text: str = value.decode("latin-1")
            if _WELL_FORMED.fullmatch(text):
                return text
            break
    return new_id()


def new_id() -> str:
    """What `uuid.uuid4().hex` gives (random, version and variant bits set), a few times faster."""
    value = int.from_bytes(os.urandom(16), "big")
    value = (value & ~(0xF000 << 64) | 0x4000 << 64) & ~(0xC000 << 48) | 0x8000 << 48
    return f"{value:032x}"


def route_of(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else "unmatched"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        start_request(request_id)
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": None, "bytes": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        async def receive_noting_end() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                state[BODY_RECEIVED] = True  # an error answer then has nothing left to drain
            return message

        try:
            await self.app(scope, receive_noting_end, send_with_id)
        except Exception as exc:
            if seen["status"] is not None:
                raise  # headers are out: the server aborts the connection and logs it
            # Answer the 500 here, so it carries the id too (logged once, by server_error).
            response = await server_error(Request(scope, receive), exc)
            await response(scope, receive, send_with_id)
        finally:
            self._log(scope, seen, time.perf_counter() - started)
            end_request()

    @staticmethod
    def _log(scope: Scope, seen: dict[str, Any], seconds: float) -> None:
        _line(
            {
                "method": scope["method"],
                "route": route_of(scope),
                "status": seen["status"],
                "bytes": seen["bytes"],
                "duration_ms": round(seconds * 1000, 2),
                "user_id": request_value("user_id"),
            }
        )
