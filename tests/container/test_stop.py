"""`podman stop` during uploads: the container exits within the grace time, an upload that ends in
time is stored, one that does not fails and leaves nothing behind (issue 5, test 5)."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator

import httpx

from tests.container import api
from tests.container.podman import Container, Pod, podman
from tests.mediafiles import make_wav

# supervisord.conf: Hypercorn's graceful_timeout 6 s < stopwaitsecs 8 s < podman's default 10 s.
GRACE = 8.0
PART = 256 * 1024


class Upload(threading.Thread):
    """A PUT whose body arrives in two parts; the second after `pause` seconds (or never)."""

    def __init__(self, container: Container, first: bytes, rest: bytes, pause: float) -> None:
        super().__init__(daemon=True)
        self.session_uid = uuid.uuid4().hex
        self.url = api.chunk_url(container.url, self.session_uid, 0)
        self.first, self.rest, self.pause = first, rest, pause
        self.sent_first = threading.Event()
        self.outcome: int | str = "not finished"
        self.reply: dict[str, object] = {}

    def body(self) -> Iterator[bytes]:
        yield self.first
        self.sent_first.set()
        time.sleep(self.pause)
        yield self.rest

    def run(self) -> None:
        headers = {
            **api.recorder_headers(),
            "Content-Length": str(len(self.first) + len(self.rest)),
        }
        try:
            reply = httpx.put(
                self.url, params={"user_id": 5}, content=self.body(), headers=headers, timeout=60
            )
            self.outcome = reply.status_code
            if reply.is_success:
                self.reply = reply.json()
        except httpx.HTTPError as exc:
            self.outcome = type(exc).__name__


def stop_timed(container: Container) -> float:
    start = time.monotonic()
    podman("stop", "--time", "30", container.name, timeout=60)  # supervisor, not podman, decides
    return time.monotonic() - start


def test_stop_drains_uploads_and_leaves_no_partial_object(pod: Pod) -> None:
    volume = pod.volume()
    first = pod.start(volume=volume)
    first.wait_healthy()
    key = api.create_key(first.url, 5)
    data = make_wav(16.5)  # 528 KB of 16 kHz mono
    quick = Upload(first, data[:PART], data[PART:], pause=2)  # ends inside the grace time
    endless = Upload(first, data[:PART], data[PART:], pause=120)  # never ends in time
    for upload in (quick, endless):
        upload.start()
        assert upload.sent_first.wait(10)
    time.sleep(0.5)  # the first parts are in the server

    took = stop_timed(first)
    quick.join(30)
    endless.join(30)
    assert took < GRACE + 1.5, f"stop took {took:.1f} s"
    assert first.exit_code() == 0, first.logs()
    assert quick.outcome in (200, 201), quick.outcome
    assert endless.outcome not in (200, 201), endless.outcome

    files = pod.files(volume)
    assert not [f for f in files if "/.tmp-" in f or f.startswith(".tmp-")], files
    assert not [f for f in files if f"{endless.session_uid}/audio/chunks" in f], files

    second = pod.start(volume=volume)
    second.wait_healthy()
    state = httpx.get(
        f"{second.url}/ingest/sessions/{quick.session_uid}",
        params={"user_id": 5},
        headers=api.recorder_headers(final=False),
        timeout=30,
    )
    assert state.status_code == 200, state.text
    chunks = state.json()["media"]["audio"]["chunks"]
    assert chunks == [{"seq": 0, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]
    assert int(str(quick.reply["recording_id"])) in api.listed_ids(second.url, key)
