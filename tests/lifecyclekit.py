"""Helpers for the lifecycle tests: one replica's services wired like the app wires them, recordings
made through the ingest service, and a real webhook receiver (a threaded HTTP server on loopback).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry

from lite import render
from lite.catalog import Catalog
from lite.compaction import Compactor
from lite.dispatcher import DeliveryConfig, Dispatcher
from lite.endpoints import Endpoints
from lite.ingest import ChunkIn, IngestService, Uploader
from lite.leases import Leases, new_owner
from lite.lifecycle import Lifecycle
from lite.manifest import SessionIndex
from lite.outbox import Outbox
from lite.recordings import Recordings, RecordingView
from lite.retention import RetentionPolicy
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import new_uid, wav_chunks

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes, base64


def config(url: str = "", **changes: Any) -> DeliveryConfig:
    values: dict[str, Any] = {
        "url": url,
        "secret": SECRET,
        "allow_private": True,
        "timeout_seconds": 1.0,
        "retry_base_seconds": 0.1,
        "give_up_seconds": 3600.0,
        "lease_seconds": 10.0,
    }
    values.update(changes)
    return DeliveryConfig(**values)


class Replica:
    """What one app process holds, wired like the app factory does."""

    def __init__(
        self,
        storage: Storage,
        *,
        retention_days: int = 0,
        keep_hours: int = 0,
        settle_seconds: float = 0,
        delivery: DeliveryConfig | None = None,
    ) -> None:
        self.policy = RetentionPolicy(retention_days)
        self.outbox = Outbox(
            storage, lambda m: render.recording(RecordingView(m, {}, self.policy.expires_at(m)))
        )
        self.catalog = Catalog(storage, self.outbox)
        self.ingest = IngestService(storage, self.catalog, 64 * 1024 * 1024)
        self.recordings = Recordings(storage, self.catalog, self.policy, self.outbox)
        owner = new_owner()
        self.compactor = Compactor(storage, self.catalog, keep_hours, settle_seconds)
        self.lifecycle = Lifecycle(
            self.catalog, self.policy, self.compactor, Leases(storage, owner), self.outbox,
            CollectorRegistry(),
        )  # fmt: skip
        self.endpoints = Endpoints(storage, allow_private=True)
        self.dispatcher = Dispatcher(
            storage, self.catalog, self.endpoints, delivery or config(), owner, CollectorRegistry()
        )

    async def record(
        self, user: int, chunks: list[bytes] | None = None, final: bool = True
    ) -> SessionIndex:
        """A recording made through the ingest service (finished when `final`)."""
        uid = new_uid()
        data = chunks if chunks is not None else wav_chunks(3)
        for seq, payload in enumerate(data):
            last = final and seq == len(data) - 1
            chunk = ChunkIn(uid, "audio", seq, "wav", iter_bytes(payload), is_final=last)
            await self.ingest.receive(Uploader(user), chunk, source="test")
        index = await self.catalog.session(uid)
        assert index is not None
        return index


# --- a webhook receiver ------------------------------------------------------------------------


@dataclass
class Receiver:
    """Answers each event's attempts by a script: e.g. [500, 500, 500, "hang", 200]."""

    script: list[Any]
    hang_seconds: float = 2.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> Any:
        with self.lock:
            event_id = headers.get("webhook-id", "")
            number = sum(1 for a in self.attempts if a["id"] == event_id)
            step = self.script[min(number, len(self.script) - 1)]
            accepted = step == 200
            self.attempts.append(
                {"id": event_id, "headers": headers, "body": body, "step": step,
                 "accepted": accepted, "at": time.time()}
            )  # fmt: skip
        return step

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a for a in self.attempts if a["accepted"]]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(a["body"]) for a in self.accepted()]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            step = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            if step == "hang":
                time.sleep(receiver.hang_seconds)  # longer than the sender waits
                step = 200
            self.send_response(int(step))
            self.send_header("content-length", "2")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def receiver_server(
    script: list[Any], hang_seconds: float = 2.0
) -> Iterator[tuple[Receiver, Callable[[], None]]]:
    receiver = Receiver(script, hang_seconds)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, server.shutdown
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
