"""Finalize time of a two-hour MediaRecorder-style WebM (480 chunks of ~15 s, local storage,
fsync off): the seekable master (scan every chunk, then write with Duration/Cues/SeekHead)
against the plain concatenation. Also `python -m tests.bench.media`."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from lite.assemble import make_plan, write_plan
from lite.chunks import list_chunks
from lite.masterplan import make_master_plan
from lite.storage.base import iter_bytes
from lite.storage.local import LocalStorage
from tests import webmkit
from tests.bench.tools import Options, Row, log

ROUNDS = 3


async def _finalize_seconds(store: LocalStorage, seekable: bool) -> float:
    started = time.perf_counter()
    chunks = await list_chunks(store, 1, 1, "bench", "audio")
    plan = await (make_master_plan if seekable else make_plan)(store, chunks)
    await write_plan(store, f"recordings/1/1/bench-{seekable}.webm", plan)
    return time.perf_counter() - started


async def _measure(work: Path) -> tuple[float, float, int]:
    recording = webmkit.make_recording(work, webmkit.TWO_HOURS)
    store = LocalStorage(str(work / "store"), fsync=False)
    for seq, data in enumerate(recording.chunks):
        key = f"recordings/1/1/bench/audio/chunks/{seq:010d}.webm"
        await store.put(key, iter_bytes(data))
    plain, seekable = [], []
    for _ in range(ROUNDS):  # interleaved, best of each
        plain.append(await _finalize_seconds(store, False))
        seekable.append(await _finalize_seconds(store, True))
    return min(seekable), min(plain), len(recording.chunks)


def run(work: Path, opts: Options) -> list[Row]:
    log("media: finalize a two-hour WebM, seekable vs plain concatenation")
    made = work / "media"
    made.mkdir(exist_ok=True)
    seekable, plain, chunks = asyncio.run(_measure(made))
    note = f"{chunks} chunks; best of {ROUNDS}; ratio = seekable / plain (time: lower is better)"
    return [
        Row("finalize 2 h WebM: seekable master", seekable, "s", plain, "plain concat", note=note)
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for row in run(Path(tmp), Options(seconds=0, rounds=1)):
            assert row.ours is not None and row.reference is not None and row.ratio is not None
            print(
                f"{row.name}: {row.ours:.2f} s vs {row.ref_name} {row.reference:.2f} s, "
                f"ratio {row.ratio:.2f} ({row.note})"
            )
