"""The S3 backend's share of its connection pool, with a breaker for outages.

Waiting for a free connection is not the store failing: a burst (1,000 bots sending their final
chunk at once) queues here, outside each call's deadline, for as long as QUEUE_DEADLINE. But when
calls are failing (the store is down), queued callers are refused at once, so an outage answers
503 within one call's deadline instead of after the whole queue has timed out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import anyio
from botocore.exceptions import BotoCoreError

from lite.storage.base import Unavailable

QUEUE_DEADLINE = 120.0
TROUBLE_SECONDS = 2.0  # after failing calls, queued callers are refused for this long
TROUBLE_AFTER = 3  # failures in a row (no success between): one slow call under load is not down
_POLL = 0.25


class CallSlots:
    def __init__(self, size: int) -> None:
        self._free = anyio.Semaphore(max(1, size))
        self._trouble_until = 0.0
        self._failures = 0  # in a row

    def _troubled(self) -> bool:
        return time.monotonic() < self._trouble_until

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for a call; a timeout or an unreachable store marks it troubled."""
        await self._acquire()
        try:
            yield
        except (Unavailable, TimeoutError, BotoCoreError, OSError):
            self._failures += 1
            if self._failures >= TROUBLE_AFTER:
                self._trouble_until = time.monotonic() + TROUBLE_SECONDS
            raise
        else:
            self._failures = 0
        finally:
            self._free.release()

    async def _acquire(self) -> None:
        if self._troubled():
            raise Unavailable("object storage is failing; retry shortly")
        try:  # a free slot needs no timed wait (a cancel scope per call costs as much as a GET)
            self._free.acquire_nowait()
            return
        except anyio.WouldBlock:
            pass
        end = time.monotonic() + QUEUE_DEADLINE
        while True:
            if self._troubled():
                raise Unavailable("object storage is failing; retry shortly")
            with anyio.move_on_after(_POLL):
                await self._free.acquire()
                return
            if time.monotonic() > end:
                raise Unavailable("object storage is busy; no free connection")
