"""S3 outages during ingest: SeaweedFS stopped (SIGSTOP) for 20 s, and SeaweedFS killed and
started again. Bots are answered 503 with Retry-After within the deadline and keep retrying;
afterwards every acknowledged chunk's stored bytes are compared with what was sent."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from lite.storage import s3
from lite.storage.base import Unavailable
from lite.storage.s3 import S3Storage
from tests.faults.conftest import Figures
from tests.faults.kit import Audit, Restartable, Session, Tally, audit, client, send_session
from tests.ingestkit import app_env, new_uid, new_user, wav_chunks
from tests.servers import SeaweedServer, make_bucket, s3_client
from tests.stores import loopback_s3_options, new_store

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

SESSIONS = 20
CHUNKS = 30
OUTAGE_SECONDS = 20
# The longest a request may wait for its 503: one call's deadline (callers queued behind a failed
# call are refused at once), with room for a loaded machine.
REFUSAL_DEADLINE = s3.CALL_DEADLINE + 5


@pytest.fixture(scope="module")
def own_seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A SeaweedFS of these tests alone: they stop and kill it."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed-outage")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(own_seaweed: SeaweedServer) -> Iterator[dict[str, str]]:
    with new_store("seaweedfs", endpoint=own_seaweed.endpoint) as store:
        yield app_env(store.env)


def new_sessions(seed: int) -> list[Session]:
    user = new_user()
    return [
        Session(new_uid(), user, wav_chunks(CHUNKS, seconds=0.02, seed=seed + i * CHUNKS))
        for i in range(SESSIONS)
    ]


async def ingest_through(
    env: dict[str, str], tmp_path: Path, fault: Callable[[], Awaitable[None]], seed: int
) -> tuple[Tally, Audit]:
    """Run the bots; `fault` (async, no arguments) runs 1.5 s after they start."""
    sessions = new_sessions(seed)
    app = Restartable(env, tmp_path)
    app.start()
    tally = Tally()
    try:
        async with client(app.url) as http, anyio.create_task_group() as group:
            deadline = time.monotonic() + 600
            for session in sessions:
                group.start_soon(send_session, http, session, tally, deadline, 0.1)
            await anyio.sleep(1.5)
            await fault()
        found = await audit(env, sessions)
    finally:
        app.stop()
    return tally, found


async def test_s3_stopped_for_20_seconds(
    env: dict[str, str], own_seaweed: SeaweedServer, tmp_path: Path, figures: Figures
) -> None:
    async def outage() -> None:
        own_seaweed.pause()
        try:
            await anyio.sleep(OUTAGE_SECONDS)
        finally:
            own_seaweed.resume()

    tally, found = await ingest_through(env, tmp_path, outage, seed=100)

    figures.record(
        "S3 stopped 20 s (SIGSTOP)",
        chunks=found.acked,
        answered_503=tally.statuses[503],
        without_retry_after=tally.unavailable_without_retry_after,
        slowest_503_s=tally.slowest_refusal,
        missing=found.missing,
        different=found.different,
        masters_wrong=found.masters_wrong,
        other_5xx=tally.server_errors,
    )
    assert tally.statuses[503] > 0, "the outage was not noticed"
    assert tally.unavailable_without_retry_after == 0
    assert tally.slowest_refusal < REFUSAL_DEADLINE
    assert found.acked == SESSIONS * CHUNKS
    assert (found.missing, found.different, found.split, found.masters_wrong) == (0, 0, 0, 0)
    assert tally.server_errors == 0, tally.statuses


async def test_s3_killed_and_restarted(
    env: dict[str, str], own_seaweed: SeaweedServer, tmp_path: Path, figures: Figures
) -> None:
    async def crash() -> None:
        await anyio.to_thread.run_sync(own_seaweed.restart)

    tally, found = await ingest_through(env, tmp_path, crash, seed=5000)

    figures.record(
        "S3 killed -9 and restarted",
        chunks=found.acked,
        answered_503=tally.statuses[503],
        without_retry_after=tally.unavailable_without_retry_after,
        slowest_503_s=tally.slowest_refusal,
        missing=found.missing,
        different=found.different,
        masters_wrong=found.masters_wrong,
        other_5xx=tally.server_errors,
    )
    assert tally.unavailable_without_retry_after == 0
    assert tally.slowest_refusal < REFUSAL_DEADLINE
    assert found.acked == SESSIONS * CHUNKS
    assert (found.missing, found.different, found.split, found.masters_wrong) == (0, 0, 0, 0)
    assert tally.server_errors == 0, tally.statuses


async def test_reads_from_a_stopped_seaweedfs_are_unavailable_never_a_hang(
    tmp_path: Path, figures: Figures
) -> None:
    """SIGSTOP mid-stream and before a read: both fail as Unavailable within the read timeouts;
    after SIGCONT the pooled reads work again."""
    server = SeaweedServer(tmp_path).start()
    try:
        bucket = make_bucket(server.endpoint)
        payload = os.urandom(32 * 1024 * 1024)  # more than socket buffers can hold in flight
        client = s3_client(server.endpoint)  # botocore's own timeouts: a loaded machine is slow
        try:
            await anyio.to_thread.run_sync(
                lambda: client.put_object(Bucket=bucket, Key="big", Body=payload)
            )
        finally:
            client.close()
        options = dataclasses.replace(
            loopback_s3_options(0, 2), endpoint_url=server.endpoint, bucket=bucket, read_timeout=2
        )
        store = await S3Storage("s3", options).open()
        try:
            mid_stream, before_read = await _reads_while_stopped(store, server)
            with anyio.fail_after(30):
                assert await _read_all(store, "big") == payload
        finally:
            await store.aclose()
    finally:
        server.stop()
    figures.record(
        "S3 reads while stopped (SIGSTOP)",
        mid_stream_s=round(mid_stream, 2),
        before_read_s=round(before_read, 2),
        read_after_resume="whole",
    )


async def _reads_while_stopped(store: S3Storage, server: SeaweedServer) -> tuple[float, float]:
    """Seconds until a read in progress, then a new read, fail as Unavailable."""
    reader = await store.open_range("big")
    server.pause()
    try:
        started = time.monotonic()
        with anyio.fail_after(10), pytest.raises(Unavailable):
            async for _ in reader:
                pass
        mid_stream = time.monotonic() - started
        await reader.aclose()
        started = time.monotonic()
        with anyio.fail_after(10), pytest.raises(Unavailable):
            await store.open_range("big", 0, 99)
        return mid_stream, time.monotonic() - started
    finally:
        server.resume()


async def _read_all(store: S3Storage, key: str) -> bytes:
    reader = await store.open_range(key)
    try:
        return b"".join([chunk async for chunk in reader])
    finally:
        await reader.aclose()
