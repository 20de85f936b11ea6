"""Release idle keep-alive connections the client has closed (Hypercorn 0.18 holds them).

When an idle HTTP/1.1 connection gets EOF, Hypercorn's H11Protocol ignores the Closed event (no
stream is active) and the socket stays open until keep_alive_timeout (75 s here): one descriptor
per finished request and closed client. Passing the Closed on closes the socket at once. The same
one-line change belongs upstream in hypercorn/protocol/h11.py.
"""

from __future__ import annotations

from typing import Any

from hypercorn.events import Closed
from hypercorn.protocol.h11 import H11Protocol

from lite import serving

_original_handle = H11Protocol.handle


async def _handle(self: Any, event: Any) -> None:
    await _original_handle(self, event)
    if isinstance(event, Closed) and getattr(self, "stream", None) is None:
        await self.send(Closed())


def install() -> None:
    """Idempotent; called by both entry points (the CLI and lite.asgi)."""
    H11Protocol.handle = _handle  # type: ignore[method-assign]
    serving.install()
