"""A full disk (a small tmpfs filled to the last byte): chunks are refused with 507 and leave
nothing partial, reads keep working, and the bots' retries succeed once space returns."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.faults.conftest import Figures
from tests.faults.kit import Restartable, Session, Tally, audit, client, send_session
from tests.ingestkit import api_key, app_env, new_uid, new_user, wav_chunks, wav_master
from tests.stores import local_env

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

DISK_MB = 24
FULL_SECONDS = 4
SESSIONS = 6
CHUNKS = 8


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full to the last byte."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(block[:size])
    return filler


async def lasting_partial_files(root: Path) -> int:
    """Temp files that stay (one being written right now is not left behind): the fewest seen
    in ten looks over a second."""
    seen = []
    for _ in range(10):
        seen.append(sum(n.startswith(".tmp-") for _, _, names in os.walk(root) for n in names))
        await anyio.sleep(0.1)
    return min(seen)


async def test_disk_full(small_disk: Path, tmp_path: Path, figures: Figures) -> None:
    root = small_disk / "recordings"
    env = app_env(local_env(root))
    user = new_user()
    done = Session(new_uid(), user, wav_chunks(4, seconds=0.2, seed=1))
    sessions = [
        Session(new_uid(), user, wav_chunks(CHUNKS, seconds=0.5, seed=10 + i * CHUNKS))
        for i in range(SESSIONS)
    ]
    app = Restartable(env, tmp_path)
    app.start()
    tally = Tally()
    try:
        async with client(app.url) as http:
            key = await api_key(http, user)
            await send_session(http, done, Tally(), time.monotonic() + 30)
            filler = fill(small_disk)
            async with anyio.create_task_group() as group:
                deadline = time.monotonic() + 120
                for session in sessions:
                    group.start_soon(send_session, http, session, tally, deadline)
                await anyio.sleep(FULL_SECONDS)
                refused, acked_while_full = tally.statuses[507], sum(len(s.acked) for s in sessions)
                partial_while_full = await lasting_partial_files(root)
                reads = await read_back(http, key, done)
                filler.unlink()
        found = await audit(env, [done, *sessions])
    finally:
        app.stop()

    figures.record(
        "disk full (tmpfs)",
        answered_507=refused,
        acked_while_full=acked_while_full,
        partial_files=partial_while_full,
        temp_files_after=found.leftovers,
        reads_ok=reads,
        chunks_after_recovery=found.acked,
        missing=found.missing,
        different=found.different,
        masters_wrong=found.masters_wrong,
        other_5xx=tally.server_errors,
    )
    assert refused > 0 and acked_while_full == 0
    assert partial_while_full == 0 and found.leftovers == 0
    assert reads == 3
    assert found.acked == len(done.chunks) + SESSIONS * CHUNKS
    assert (found.missing, found.different, found.split, found.masters_wrong) == (0, 0, 0, 0)
    assert tally.server_errors == 0, tally.statuses


async def read_back(http: httpx.AsyncClient, key: str, session: Session) -> int:
    """How many of three reads work: the recording list, the recording, the master's bytes."""
    headers = {"X-API-Key": key}
    ok = 0
    listed = await http.get("/recordings", headers=headers)
    ok += listed.status_code == 200
    [recording] = [r for r in listed.json()["recordings"] if r["session_uid"] == session.uid]
    one = await http.get(f"/recordings/{recording['id']}", headers=headers)
    ok += one.status_code == 200
    media = one.json()["media_files"][0]["id"]
    raw = await http.get(f"/recordings/{recording['id']}/media/{media}/raw", headers=headers)
    ok += raw.status_code == 200 and raw.content == wav_master(session.chunks)
    return ok
