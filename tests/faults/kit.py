"""Shared parts of the fault suite: bots that retry until every chunk is acknowledged, an app
that can be killed and restarted on the same port, and an audit of the store afterwards."""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from lite import keys
from lite.catalog import OPEN_PREFIX, Catalog
from lite.chunks import content_digest, media_types
from lite.errors import NotFound, ResourceNotFound
from lite.storage.base import Storage, read_all
from tests.ingestkit import put_chunk, sha, wav_master
from tests.servers import AppServer, free_ports, s3_client
from tests.stores import opened_storage

RETRYABLE = (409, 503, 507)  # what a bot answers by sending the same chunk again


@dataclass
class Session:
    uid: str
    user: int
    chunks: list[bytes]
    acked: dict[int, str] = field(default_factory=dict)  # seq -> sha256 answered


@dataclass
class Tally:
    """What the bots saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    unavailable_without_retry_after: int = 0
    slowest_refusal: float = 0.0  # seconds to a 503 or 507
    in_flight: Counter[str] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        """5xx other than the 503 and 507 a client is told to retry."""
        return sum(n for code, n in self.statuses.items() if code >= 500 and code not in RETRYABLE)


async def send_session(
    http: httpx.AsyncClient,
    session: Session,
    tally: Tally,
    deadline: float,
    pace: float = 0.0,
    final: bool = True,
) -> None:
    """Send every chunk (the last with X-Final), retrying each until it is acknowledged."""
    last = len(session.chunks) - 1
    for seq, data in enumerate(session.chunks):
        kind = "first" if seq == 0 else "final" if final and seq == last else "upload"
        while seq not in session.acked:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{session.uid} seq {seq} never acknowledged")
            await _send_once(http, session, seq, data, kind, final and seq == last, tally)
        await anyio.sleep(pace)


async def _send_once(
    http: httpx.AsyncClient,
    session: Session,
    seq: int,
    data: bytes,
    kind: str,
    is_final: bool,
    tally: Tally,
) -> None:
    started = time.monotonic()
    tally.in_flight[kind] += 1
    try:
        answer = await put_chunk(http, session.uid, seq, data, user_id=session.user, final=is_final)
    except httpx.TransportError:
        tally.transport_errors += 1
        await anyio.sleep(0.2)
        return
    finally:
        tally.in_flight[kind] -= 1
    tally.statuses[answer.status_code] += 1
    if answer.status_code in (200, 201):
        got = answer.json()["sha256"]
        assert got == sha(data), (session.uid, seq)
        session.acked[seq] = got
        return
    if answer.status_code in (503, 507):
        tally.slowest_refusal = max(tally.slowest_refusal, time.monotonic() - started)
        if "retry-after" not in answer.headers:
            tally.unavailable_without_retry_after += 1
    elif answer.status_code < 500 and answer.status_code not in RETRYABLE:
        raise AssertionError(f"{answer.status_code} {answer.text}")
    await anyio.sleep(0.2)


def client(url: str, connections: int = 200, timeout: float = 60) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout)


class Restartable:
    """The app on one fixed port, so clients reach it again after a kill -9 and restart."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: AppServer | None = None

    def start(self, **extra: str) -> None:
        self.server = AppServer({**self.env, **extra}, self.workdir, port=self.port).start(60)

    def kill(self) -> None:
        assert self.server is not None
        self.server.kill()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@dataclass
class Audit:
    sessions: int = 0
    acked: int = 0
    missing: int = 0
    different: int = 0
    split: int = 0  # sessions without exactly one recording
    ghosts: int = 0  # recordings with no chunk at all
    masters_wrong: int = 0
    markers: int = 0
    leftovers: int = 0  # temp files (local) or unfinished multipart uploads (S3)


async def audit(env: Mapping[str, str], sessions: list[Session], masters: bool = True) -> Audit:
    """Read the store directly: every acknowledged chunk's bytes, recordings per session,
    ghosts, masters, open-session markers and leftovers of interrupted writes."""
    found = Audit(sessions=len(sessions), leftovers=leftovers(env))
    async with opened_storage(env) as storage:
        catalog = Catalog(storage)
        recordings = await _recordings_by_session(storage, catalog, {s.user for s in sessions})
        for rec_user, rec_id, uid in (r for rs in recordings.values() for r in rs):
            if not await media_types(storage, rec_user, rec_id, uid):
                found.ghosts += 1
        for session in sessions:
            found.acked += len(session.acked)
            mine = recordings.get(session.uid, [])
            if len(mine) != 1:
                found.split += 1
                continue
            user, rec, _ = mine[0]
            for seq, digest in session.acked.items():
                key = keys.chunk_key(user, rec, session.uid, "audio", seq, "wav")
                try:
                    got, _ = await content_digest(storage, key)
                except NotFound:
                    found.missing += 1
                    continue
                found.different += got != digest
            if masters and not await _master_right(storage, catalog, user, rec, session):
                found.masters_wrong += 1
        found.markers = len([i async for i in storage.list(OPEN_PREFIX)])
    return found


async def _recordings_by_session(
    storage: Storage, catalog: Catalog, users: set[int]
) -> dict[str, list[tuple[int, int, str]]]:
    found: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for user in users:
        for rec in await catalog.recording_ids(user):
            try:
                manifest, _ = await catalog.load(user, rec)
            except ResourceNotFound:
                continue  # a directory without a manifest is not a recording
            found[manifest.session_uid].append((user, rec, manifest.session_uid))
    return found


async def _master_right(
    storage: Storage, catalog: Catalog, user: int, rec: int, session: Session
) -> bool:
    manifest, _ = await catalog.load(user, rec)
    if manifest.status != "completed":
        return False
    try:
        master = await read_all(storage, keys.master_key(user, rec, session.uid, "audio", "wav"))
    except NotFound:
        return False
    return master == wav_master(session.chunks)


def leftovers(env: Mapping[str, str]) -> int:
    if env["STORAGE_BACKEND"] == "local":
        root = env["LOCAL_STORAGE_DIR"]
        return sum(name.startswith(".tmp-") for _, _, names in os.walk(root) for name in names)
    s3 = s3_client(env["S3_ENDPOINT"])
    try:
        uploads: list[Any] = s3.list_multipart_uploads(Bucket=env["S3_BUCKET"]).get("Uploads", [])
        return len(uploads)
    finally:
        s3.close()


async def settle(env: Mapping[str, str], sessions: list[Session], within: float) -> Audit:
    """Audit until the reconciler's pass has cleared markers and leftovers (or time is up)."""
    end = time.monotonic() + within
    while True:
        found = await audit(env, sessions, masters=False)
        if (found.markers == 0 and found.leftovers == 0) or time.monotonic() > end:
            return await audit(env, sessions)
        await anyio.sleep(0.5)
