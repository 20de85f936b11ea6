"""Playback test kit: a real app on Hypercorn with recordings uploaded once, and wire helpers.

Used by the `test_playback_*` modules and `test_streaming.py`. Every expected body is computed
here from what was uploaded (never read back from the server under test): a WAV master is the
canonical 44-byte header the stdlib `wave` module writes for all the frames, a WebM master is the
seekable file made of the slices sent (`mediafiles.webm_master`).
"""

from __future__ import annotations

import contextlib
import email
import email.message
import hashlib
import itertools
import os
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests import inproc, mediafiles
from tests.servers import AppServer
from tests.stores import Store, new_store

USER = 7
OTHER_USER = 8
ADMIN_TOKEN = "adm"
INTERNAL_SECRET = "sec"
SIGNING_KEY = "playback-tests-signing-key"
CACHE_MAX_AGE = 1234
RAW_ROUTE = "/recordings/{recording_id}/media/{media_id}/raw"
BACKENDS = ["local", "seaweedfs"]
# Identity, so a body is the bytes on the wire: httpx would silently undo a Content-Encoding.
IDENTITY = {"Accept-Encoding": "identity"}
BASE_ENV = {
    "INTERNAL_API_SECRET": INTERNAL_SECRET,
    "ADMIN_API_TOKEN": ADMIN_TOKEN,
    "LITE_SIGNING_KEY": SIGNING_KEY,
    "LITE_CACHE_MAX_AGE": str(CACHE_MAX_AGE),
    "LITE_RECONCILE_INTERVAL_SECONDS": "0",  # in-progress recordings stay in progress
}


# --- media ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """What a recorder sends (chunks and their Content-Type) and the file it must add up to."""

    chunks: list[bytes]
    content_type: str
    expected: bytes
    duration: float


def wav_upload(
    seconds: float,
    pieces: int,
    rate: int = 16000,
    channels: int = 1,
    sampwidth: int = 2,
    seed: int = 0,
    *,
    fast: bool = False,
) -> Upload:
    """`pieces` complete WAV files of consecutive frames; the master is one canonical WAV."""
    nframes = round(seconds * rate)
    block = channels * sampwidth
    if fast:  # large files: random bytes, generated in C
        frames = random.Random(seed).randbytes(nframes * block)
    else:
        frames = mediafiles.pcm(nframes, channels, sampwidth, seed)
    cuts = [round(i * nframes / pieces) * block for i in range(pieces + 1)]
    chunks = [
        mediafiles.wav_from_pcm(frames[a:b], rate, channels, sampwidth)
        for a, b in itertools.pairwise(cuts)
    ]
    expected = mediafiles.wav_from_pcm(frames, rate, channels, sampwidth)
    return Upload(chunks, "audio/wav", expected, nframes / rate)


def slices(data: bytes, pieces: int) -> list[bytes]:
    """Cut at arbitrary byte offsets, as a MediaRecorder's timeslice does (not at clusters)."""
    cuts = [round(i * len(data) / pieces) for i in range(pieces + 1)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def webm_upload(seconds: float, pieces: int, *, seekable: bool = True) -> Upload:
    data = mediafiles.make_webm(seconds, seekable=seekable)
    return Upload(slices(data, pieces), "audio/webm", mediafiles.webm_master(data), seconds)


@dataclass(frozen=True)
class Media:
    """One uploaded recording's media file and the exact bytes the server must serve."""

    recording_id: int
    media_id: int
    session_uid: str
    body: bytes
    content_type: str
    duration: float
    api_duration: float | None = None  # what the server measured (duration_seconds)

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'

    @property
    def raw_path(self) -> str:
        return RAW_ROUTE.format(recording_id=self.recording_id, media_id=self.media_id)

    @property
    def download_path(self) -> str:
        return self.raw_path.removesuffix("/raw") + "/download"

    @property
    def filename(self) -> str:
        return f"recording-{self.recording_id}.{self.content_type.split('/')[1]}"

    def slice(self, start: int, end: int) -> bytes:
        """Bytes start..end inclusive."""
        return self.body[start : end + 1]


# --- a running deployment -----------------------------------------------------------------------


@dataclass
class Deployment:
    """The app over one store (on real Hypercorn, or in process), a key for USER, and the media
    uploaded."""

    store: Store
    hypercorn: AppServer | None  # None: the app runs in process (tests/inproc.py)
    workdir: Path
    key: str = ""
    media: dict[str, Media] = field(default_factory=dict)
    _http: httpx.Client | None = None

    @property
    def backend(self) -> str:
        return self.store.backend

    @property
    def s3_endpoint(self) -> str:
        return self.store.endpoint

    @property
    def bucket(self) -> str:
        return self.store.bucket

    @property
    def public_endpoint(self) -> str:
        return self.store.env.get("S3_PUBLIC_ENDPOINT", "")

    @property
    def server(self) -> AppServer:
        assert self.hypercorn is not None, "this deployment runs in process"
        return self.hypercorn

    @property
    def url(self) -> str:
        return self.hypercorn.url if self.hypercorn is not None else inproc.URL

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    @property
    def http(self) -> httpx.Client:
        """A shared keep-alive client for the app (identity encoding, no auth)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, headers=IDENTITY, timeout=30)
        return self._http

    def auth(self, **headers: str) -> dict[str, str]:
        return {"X-API-Key": self.key, **headers}

    def create_key(self, user_id: int) -> str:
        answer = self.http.post(
            f"/admin/users/{user_id}/api-keys", headers={"X-Admin-API-Key": ADMIN_TOKEN}
        )
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["key"]
        return key

    def put_chunk(
        self,
        session_uid: str,
        seq: int,
        body: bytes,
        content_type: str,
        *,
        final: bool = False,
        user_id: int = USER,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {INTERNAL_SECRET}", "Content-Type": content_type}
        if final:
            headers["X-Final"] = "true"
        answer = self.http.put(
            f"/ingest/sessions/{session_uid}/audio/chunks/{seq}",
            params={"user_id": user_id},
            content=body,
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def recording(self, session_uid: str, key: str | None = None) -> dict[str, Any]:
        answer = self.http.get(
            "/recordings", params={"limit": 200}, headers={"X-API-Key": key or self.key}
        )
        assert answer.status_code == 200, answer.text
        for found in answer.json()["recordings"]:
            if found["session_uid"] == session_uid:
                return dict(found)
        raise AssertionError(f"no recording for session {session_uid}")

    def add(self, name: str, upload: Upload, *, final: bool = True, user_id: int = USER) -> Media:
        """Upload every chunk (the last one final unless told) and remember the media file."""
        uid = f"{name}-{uuid.uuid4().hex[:10]}"
        last = len(upload.chunks) - 1
        for seq, chunk in enumerate(upload.chunks):
            self.put_chunk(
                uid, seq, chunk, upload.content_type, final=final and seq == last, user_id=user_id
            )
        key = self.key if user_id == USER else self.create_key(user_id)
        found = self.recording(uid, key)
        media_file = found["media_files"][0]
        if final:
            assert found["status"] == "completed", found
            assert media_file["file_size_bytes"] == len(upload.expected), media_file
            assert media_file["sha256"] == hashlib.sha256(upload.expected).hexdigest()
        media = Media(
            found["id"],
            media_file["id"],
            uid,
            upload.expected,
            upload.content_type,
            upload.duration,
            media_file.get("duration_seconds"),
        )
        self.media[name] = media
        return media

    def download(self, media: Media) -> dict[str, Any]:
        answer = self.http.get(media.download_path, headers=self.auth())
        assert answer.status_code == 200, answer.text
        info: dict[str, Any] = answer.json()
        return info

    def playable_url(self, media: Media, field_name: str = "url") -> str:
        """The URL `/download` hands out, made absolute (local links are relative by default)."""
        url: str = self.download(media)[field_name]
        return url if "://" in url else self.url + url

    def metric(self, status: int, method: str = "GET", route: str = RAW_ROUTE) -> float:
        return requests_total(self.http.get("/metrics").text, method, route, str(status))

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def open_media_files(self) -> int:
        """Descriptors of the app pointing into the local store (0 on S3)."""
        if self.backend != "local":
            return 0
        root = str(self.store.root)
        return sum(1 for target in fd_targets(self.pid) if target.startswith(root))

    def open_client_ports(self) -> set[int]:
        """Client ports of the connections the app still holds (in any TCP state)."""
        port = urlsplit(self.url).port
        assert port is not None
        return client_ports(self.pid, port)

    def s3_connections(self) -> int:
        """The app's established TCP connections to the S3 endpoint (0 for local)."""
        if not self.s3_endpoint:
            return 0
        port = urlsplit(self.s3_endpoint).port
        assert port is not None
        return tcp_connections_to(self.pid, port)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


@contextlib.contextmanager
def deploy(
    backend: str,
    workdir: Path,
    request: pytest.FixtureRequest | None = None,
    *,
    in_process: bool = False,
    **extra: str,
) -> Iterator[Deployment]:
    """Start the app over a new store of `backend` (tests/stores.py: an S3 backend needs the
    test's `request` for its server; its public endpoint is spelled `localhost` while the app
    talks to 127.0.0.1) and make an API key for USER. `in_process`: no server, requests go
    through tests/inproc.py (for API shapes, auth and errors only)."""
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(new_store(backend, workdir, request, public_host="localhost"))
        env = {**BASE_ENV, **extra, **store.env}
        server = None if in_process else AppServer(env, workdir)
        deployment = Deployment(store, server, workdir)
        if server is not None:
            stack.callback(server.stop)
            server.start()
        else:
            deployment._http = stack.enter_context(inproc.inproc_sync_client(env, **IDENTITY))
        stack.callback(deployment.close)
        deployment.key = deployment.create_key(USER)
        yield deployment


# --- wire helpers -------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def requests_total(metrics_text: str, method: str, route: str, status: str) -> float:
    """`lite_http_requests_total{method, route, status}` from a Prometheus text page (0 if none)."""
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != "lite_http_requests_total":
            continue
        labels = dict(_LABEL.findall(match.group(2)))
        if labels == {"method": method, "route": route, "status": status}:
            return float(match.group(3))
    return 0.0


@dataclass(frozen=True)
class BodyPart:
    content_type: str
    content_range: str
    payload: bytes


def split_multipart(content_type: str, body: bytes) -> list[BodyPart]:
    """Parts of a multipart/byteranges body as the stdlib MIME parser splits them."""
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart(), content_type
    assert not message.defects, message.defects
    parts = message.get_payload()
    assert isinstance(parts, list)
    found = []
    for part in parts:
        assert isinstance(part, email.message.Message)
        assert not part.defects, part.defects
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.append(BodyPart(part["Content-Type"], part["Content-Range"], payload))
    return found


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def parse_content_range(value: str) -> tuple[int, int, int]:
    match = _CONTENT_RANGE.fullmatch(value)
    assert match, f"bad Content-Range {value!r}"
    start, end, size = (int(g) for g in match.groups())
    return start, end, size


def fd_targets(pid: int) -> list[str]:
    targets = []
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        with contextlib.suppress(OSError):
            targets.append(os.readlink(f"{base}/{name}"))
    return targets


def _tcp_rows(pid: int) -> Iterator[tuple[int, int, str]]:
    """(local port, remote port, state) of the TCP sockets `pid` holds (from /proc/net/tcp*)."""
    inodes = {t[8:-1] for t in fd_targets(pid) if t.startswith("socket:[")}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/net/{table}") as rows:
            next(rows)
            for row in rows:
                cols = row.split()
                if cols[9] in inodes:
                    local = int(cols[1].rsplit(":", 1)[1], 16)
                    remote = int(cols[2].rsplit(":", 1)[1], 16)
                    yield local, remote, cols[3]


def client_ports(pid: int, server_port: int) -> set[int]:
    """Remote ports of the connections `pid` still holds on its listening port `server_port`."""
    return {remote for local, remote, _ in _tcp_rows(pid) if local == server_port}


def tcp_connections_to(pid: int, port: int) -> int:
    """Established TCP sockets of `pid` whose remote port is `port`."""
    return sum(1 for _, remote, state in _tcp_rows(pid) if remote == port and state == "01")
