"""kill -9 storms: the app is killed again and again while sessions send their first chunks,
their middle chunks and their final chunks (which finalize). Every acknowledged chunk must be
stored with its bytes, each session must end as one recording with a right master, and after
the reconciler's first pass no ghost, marker or temp file may be left."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from tests.faults.conftest import Figures
from tests.faults.kit import Restartable, Session, Tally, client, send_session, settle
from tests.ingestkit import app_env, new_uid, new_user, wav_chunks
from tests.stores import new_store

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(1800)]

# 100 sessions x 30 chunks = 3,000 chunks. LITE_FAULT_SCALE < 1 shrinks the S3 storm (the slow
# one) for CI's time budget; the local storm always runs at full size, which it needs anyway to
# outlast ten kills.
FULL_SESSIONS = 100


def session_count(backend: str) -> int:
    if backend == "local":
        return FULL_SESSIONS
    return max(4, int(FULL_SESSIONS * float(os.environ.get("LITE_FAULT_SCALE", "1"))))


CHUNKS = 30
KILLS = 10
USERS = 5
START_SPREAD = 0.3  # seconds between session starts: new sessions keep arriving during kills
SECONDS = 1500


@pytest.fixture(params=["local", "seaweedfs"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    with new_store(request.param, tmp_path, request) as store:
        # A kill -9 loses no page cache: fsync guards against power loss, not this.
        yield app_env(store.env, LOCAL_STORAGE_FSYNC="false")


async def first_chunk_in_flight(tally: Tally, within: float) -> None:
    """Return once a first chunk is being sent, or after `within` seconds."""
    until = time.monotonic() + within
    for _ in range(int(within / 0.002) + 1):  # a poll: Tally has no event to wait on
        if tally.in_flight["first"] or time.monotonic() >= until:
            return
        await anyio.sleep(0.002)


async def test_kill_storm(env: dict[str, str], tmp_path: Path, figures: Figures) -> None:
    rng = random.Random(10)
    wanted = session_count(env["STORAGE_BACKEND"])
    users = [new_user() for _ in range(USERS)]
    sessions = [
        Session(new_uid(), users[i % USERS], wav_chunks(CHUNKS, seconds=0.02, seed=i * CHUNKS))
        for i in range(wanted)
    ]
    app = Restartable(env, tmp_path)
    app.start()
    tally, at_kills = Tally(), Counter[str]()
    deadline = time.monotonic() + SECONDS
    bots_done = anyio.Event()
    try:
        async with client(app.url, connections=wanted) as http, anyio.create_task_group() as tg:

            async def bots() -> None:
                async with anyio.create_task_group() as inner:
                    for session in sessions:
                        inner.start_soon(send_session, http, session, tally, deadline, 0.05)
                        await anyio.sleep(START_SPREAD)
                bots_done.set()

            tg.start_soon(bots)
            kills = 0
            # At least KILLS, and on until a kill has also hit a final chunk (finalize) in flight.
            while (kills < KILLS or not at_kills["final"]) and not bots_done.is_set():
                await anyio.sleep(rng.uniform(0.8, 2.0))
                if not at_kills["first"]:
                    # First chunks are brief: aim a kill at one (a new session starts every
                    # START_SPREAD seconds) rather than hope a random instant finds one.
                    await first_chunk_in_flight(tally, within=2 * START_SPREAD)
                at_kills.update(+tally.in_flight)
                app.kill()
                kills += 1
                await anyio.to_thread.run_sync(app.start)
            await bots_done.wait()
        # One more crash, then a start whose reconciler runs its first pass (with the sweep).
        app.kill()
        app.start(LITE_RECONCILE_INTERVAL_SECONDS="1", LITE_SESSION_IDLE_SECONDS="1")
        found = await settle(env, sessions, within=30)
    finally:
        app.stop()

    figures.record(
        f"kill-9 storm [{env['STORAGE_BACKEND']}]",
        kills=kills,
        chunks=found.acked,
        in_flight_at_kills=dict(at_kills),
        missing=found.missing,
        different=found.different,
        sessions_not_one_recording=found.split,
        ghosts=found.ghosts,
        masters_wrong=found.masters_wrong,
        markers=found.markers,
        temp_files=found.leftovers,
        other_5xx=tally.server_errors,
    )
    assert kills >= 10
    assert found.acked == wanted * CHUNKS
    assert at_kills["first"] and at_kills["upload"] and at_kills["final"], at_kills
    assert (found.missing, found.different, found.split, found.ghosts) == (0, 0, 0, 0)
    assert (found.masters_wrong, found.markers, found.leftovers) == (0, 0, 0)
    assert tally.server_errors == 0, tally.statuses
