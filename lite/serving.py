"""Read deadlines by request phase and a connection cap for Hypercorn's asyncio server.

Hypercorn 0.18 has one read deadline, `read_timeout`, and it applies to every read: it also drops
a client that is quietly waiting for its answer while the app works on a complete request. Without
it, a client that sends its request head a byte at a time holds a connection, and a descriptor,
for ever; at the descriptor limit asyncio then logs a traceback for every failed accept. Here each
read waits as long as the connection's phase allows:

- request head: the whole head must arrive within `lite_header_timeout` of its first byte (of the
  accept, for a new connection);
- request body: at most `lite_body_idle_timeout` without a byte;
- complete request being answered, or idle between requests: no read deadline (Hypercorn's
  `keep_alive_timeout` closes idle connections).

Open connections are capped below RLIMIT_NOFILE (minus `lite_fd_reserve` for files and S3
sockets). At the cap a new connection closes the one that has been sending its head longest, else
the oldest idle one, else it is answered 503 and closed. Closed slow clients are counted and
logged as one line per SUMMARY_SECONDS, never a line per client. Values come from
config/hypercorn.toml; h2 connections keep Hypercorn's own behaviour.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import time
from collections import Counter
from typing import Any

import h11
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.events import Event, Updated
from hypercorn.protocol.h11 import H11Protocol

log = logging.getLogger("lite.connections")

HEADER_TIMEOUT = 10.0
BODY_IDLE_TIMEOUT = 30.0
FD_RESERVE = 320  # descriptors kept for the S3 pool (256 sockets), logs and the store
# At the cap, who makes room: (phase, grace period in seconds, reason logged). A real client sends
# its head in its first packets, so the oldest of those partway through a head is the slowest;
# one that has sent nothing for 1 s is idle; a client between requests keeps its connection 5 s.
VICTIMS = (
    ("head", 0.05, "the oldest request head still coming"),
    ("new", 1.0, "nothing sent for 1 s"),
    ("idle", 5.0, "idle between requests for 5 s"),
)
SUMMARY_SECONDS = 10.0
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\n"
    b"connection: close\r\n\r\n"
)


def connection_cap(reserve: int) -> int:
    """Open connections allowed: half of what the descriptor limit leaves after the reserve, as
    each may hold a socket and a file (an upload being written)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max((soft - reserve) // 2, 16)


class Tracked:
    """One open connection, when its current request head began and when it last fell idle."""

    __slots__ = ("head_since", "idle_since", "server")

    def __init__(self, server: Any, now: float) -> None:
        self.server = server
        self.head_since: float | None = now
        self.idle_since: float | None = None

    def h11(self) -> h11.Connection | None:
        protocol = getattr(getattr(self.server, "protocol", None), "protocol", None)
        if isinstance(protocol, H11Protocol) and isinstance(protocol.connection, h11.Connection):
            return protocol.connection
        return None

    def phase(self) -> str:
        """new (no byte of a first request yet), head (part of a head read), body, idle (between
        requests), busy (a whole request read, the answer under way) or other (h2, WebSocket)."""
        conn = self.h11()
        if conn is None:
            return "new" if getattr(self.server, "protocol", None) is None else "other"
        if conn.their_state is h11.SEND_BODY:
            return "body"
        if conn.their_state is not h11.IDLE:
            return "busy"
        if conn.trailing_data[0]:
            return "head"
        if getattr(self.server.protocol.protocol, "keep_alive_requests", 0) == 0:
            return "new"
        return "idle" if conn.our_state is h11.IDLE else "busy"

    def abort(self) -> None:
        self.server.writer.transport.abort()  # the read sees EOF and Hypercorn cleans up


class Guard:
    """The open connections of this process; new, mid-head and idle ones oldest first."""

    def __init__(self) -> None:
        self.open: set[Tracked] = set()
        # Candidates for closing at the cap, checked when used (each may have moved on).
        self.queues: dict[str, dict[Tracked, None]] = {"head": {}, "new": {}, "idle": {}}
        self.counts: Counter[str] = Counter()
        self.frozen = False
        self._summary: asyncio.TimerHandle | None = None

    def admit(self, server: Any) -> Tracked | None:
        cap = connection_cap(int(getattr(server.config, "lite_fd_reserve", FD_RESERVE)))
        now = time.monotonic()
        if len(self.open) >= cap:
            victim = self._victim(now)
            if victim is None:
                self.count(f"refused at the cap of {cap} connections")
                return None
            self.forget(victim)
            victim.abort()
        tracked = Tracked(server, now)
        self.open.add(tracked)
        self.queues["new"][tracked] = None
        return tracked

    def forget(self, tracked: Tracked) -> None:
        self.open.discard(tracked)
        for queue in self.queues.values():
            queue.pop(tracked, None)

    def idle(self, tracked: Tracked, idle: bool) -> None:
        """Hypercorn's Updated event: the connection fell idle between requests, or left it."""
        self.queues["idle"].pop(tracked, None)
        tracked.idle_since = time.monotonic() if idle else None
        if idle and tracked in self.open:
            self.queues["idle"][tracked] = None

    def _victim(self, now: float) -> Tracked | None:
        """The oldest connection partway through its head, else the oldest one that has sent
        nothing yet, else the one idle for longest, each only past its grace period."""
        for phase, grace, reason in VICTIMS:
            queue = self.queues[phase]
            while queue:
                oldest = next(iter(queue))
                since = oldest.idle_since if phase == "idle" else oldest.head_since
                if since is None or oldest.phase() != phase:
                    queue.pop(oldest)  # moved on since it was queued
                    continue
                if now - since >= grace:
                    self.count(f"closed for a newer connection ({reason})")
                    return oldest
                break
        return None

    def read_timeout(self, tracked: Tracked) -> tuple[float | None, str]:
        """How long the next read may wait, and what a timeout means."""
        config = tracked.server.config
        phase = tracked.phase()
        if phase == "other":
            return config.read_timeout, "no data within read_timeout (h2)"
        if phase in ("new", "head"):
            now = time.monotonic()
            if tracked.head_since is None:
                tracked.head_since = now
            if phase == "head" and tracked not in self.queues["head"]:
                self.queues["new"].pop(tracked, None)
                self.queues["head"][tracked] = None
            limit = float(getattr(config, "lite_header_timeout", HEADER_TIMEOUT))
            left = max(0.0, tracked.head_since + limit - now)
            return left, f"request head not complete within {limit:g} s"
        tracked.head_since = None
        self.queues["head"].pop(tracked, None)
        self.queues["new"].pop(tracked, None)
        if phase == "body":
            limit = float(getattr(config, "lite_body_idle_timeout", BODY_IDLE_TIMEOUT))
            return limit, f"no request body byte for {limit:g} s"
        return None, ""

    def count(self, what: str) -> None:
        self.counts[what] += 1
        if self._summary is None:
            loop = asyncio.get_running_loop()
            self._summary = loop.call_later(SUMMARY_SECONDS, self.summarise)

    def summarise(self) -> None:
        self._summary = None
        if self.counts:
            parts = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
            log.warning("connections in the last %.0f s: %s", SUMMARY_SECONDS, parts)
            self.counts.clear()


GUARD = Guard()


class DeadlineReader:
    """Stands in for a connection's StreamReader in Hypercorn's read loop."""

    def __init__(self, reader: asyncio.StreamReader, tracked: Tracked) -> None:
        self._reader = reader
        self._tracked = tracked

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    async def read(self, n: int = -1) -> bytes:
        timeout, meaning = GUARD.read_timeout(self._tracked)
        try:
            return await asyncio.wait_for(self._reader.read(n), timeout)
        except TimeoutError:
            GUARD.count(f"closed ({meaning})")
            raise


class _Finished:
    async def handle(self, event: Event) -> None:
        pass


_FINISHED = _Finished()
_original_run = TCPServer.run


async def _run(self: Any) -> None:
    if not GUARD.frozen:
        # Connections make cyclic garbage, so full collections come often; with the start-up heap
        # (modules, app, settings) left out, each takes a few ms rather than 100-160 ms.
        gc.freeze()
        GUARD.frozen = True
    tracked = GUARD.admit(self)
    if tracked is None:
        self.writer.write(REFUSAL)
        self.writer.close()
        return
    reader = self.reader
    self.reader = DeadlineReader(reader, tracked)
    send = self.protocol_send

    async def protocol_send(event: Event) -> None:
        if isinstance(event, Updated):
            GUARD.idle(tracked, event.idle)
        await send(event)

    self.protocol_send = protocol_send  # what run() hands the protocol
    try:
        await _original_run(self)
    finally:
        GUARD.forget(tracked)
        # The server, its protocol and their bound methods refer to each other: unlinked, they
        # are freed now rather than by the cyclic collector, whose full passes over thousands of
        # closed slow clients paused the server for 100 ms and more. A late Closed (from the
        # keep-alive timer's shielded close) finds a protocol that ignores it.
        self.protocol = _FINISHED
        self.reader = reader
        self.__dict__.pop("protocol_send", None)
        self.__dict__.pop("_task_group", None)
        tracked.server = None


class AcceptErrors(logging.Filter):
    """asyncio logs a traceback for each accept refused at the descriptor limit, up to a hundred a
    tick: keep one short line per SUMMARY_SECONDS, with the count since the last."""

    def __init__(self) -> None:
        super().__init__()
        self.last = -SUMMARY_SECONDS
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("socket.accept() out of system resource"):
            return True
        now = time.monotonic()
        if now - self.last < SUMMARY_SECONDS:
            self.dropped += 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        record.msg = f"accept failed ({error}); {self.dropped} more such lines dropped"
        record.args, record.exc_info, record.exc_text = (), None, None
        self.last, self.dropped = now, 0
        return True


_ACCEPT_ERRORS = AcceptErrors()


def install() -> None:
    """Idempotent; called by lite.hypercorn_fix.install (both entry points)."""
    TCPServer.run = _run  # type: ignore[method-assign]
    logging.getLogger("asyncio").addFilter(_ACCEPT_ERRORS)
