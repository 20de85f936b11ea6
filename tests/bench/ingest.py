"""Ingest benchmarks (issue 3): chunk ingest rate with fsync on, and finalize of a 2-hour meeting.

Both run against one app process on the local backend with `LOCAL_STORAGE_FSYNC=true`, in a
directory on the same disk as the references:

- ingest: 16 senders (httpx.AsyncClient), each a recorder with its own session sending 480 KiB WAV
  chunks one after another (16 x 30 timed); the first chunk of each session (which creates the
  recording) is sent before the clock starts. References: a plain Python write + fsync + rename +
  directory fsync of the same 480 KiB files into 16 directories, with 16 threads (and one thread);
  and the same PUTs to a Starlette app on the same Hypercorn that reads the body and drops it (the
  HTTP ceiling).
- finalize: one session of 480 WAV chunks (16 kHz mono 16-bit, 15 s each: 480,000 payload bytes
  and a 44-byte header), uploaded by 16 concurrent senders, then `POST .../finalize` timed while
  the server's VmRSS is sampled every 10 ms; done for two sessions, the faster counts. Reference:
  `cat` of the same 480 chunk files into one file on the same disk (and `cat` followed by an fsync
  of the result, since finalize makes its master durable).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from lite.wav import build_wav_header
from tests.bench.tools import (
    KIB,
    PCM16_MONO_16K,
    Options,
    RefApp,
    Row,
    RssSampler,
    app_env,
    cpu_seconds,
    ingest_headers,
    log,
    proc_status,
    random_bytes,
    running,
    start_app,
)

SENDERS = 16
CHUNK_BYTES = 480 * KIB  # whole chunk, header included
CHUNKS_PER_SENDER = 30  # timed; plus seq 0 of each session before the clock starts
MEETING_CHUNKS = 480
MEETING_PAYLOAD = 480_000  # 15 s of 16 kHz mono 16-bit
FINALIZE_RUNS = 2  # sessions finalized; the fastest counts
HEADER = len(build_wav_header(PCM16_MONO_16K, 0))


def _chunk_bodies() -> list[bytes]:
    payload = CHUNK_BYTES - HEADER
    return [
        build_wav_header(PCM16_MONO_16K, payload) + random_bytes(payload, 100 + i)
        for i in range(SENDERS)
    ]


async def _send(
    client: httpx.AsyncClient, url: str, uid: str, seq: int, body: bytes
) -> httpx.Response:
    answer = await client.put(
        f"{url}/ingest/sessions/{uid}/audio/chunks/{seq}?user_id=1",
        content=body,
        headers=ingest_headers(),
    )
    if answer.status_code != 201:
        raise RuntimeError(f"chunk {uid}/{seq}: {answer.status_code} {answer.text[:300]}")
    return answer


def _client() -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120))


async def _ingest_sessions(url: str, bodies: list[bytes]) -> float:
    """Seq 0 of every session untimed; then 16 senders x 30 chunks, each sender in order."""
    async with _client() as client:
        await asyncio.gather(
            *(_send(client, url, f"ingest-{i}", 0, bodies[i]) for i in range(SENDERS))
        )

        async def sender(i: int) -> None:
            for seq in range(1, CHUNKS_PER_SENDER + 1):
                await _send(client, url, f"ingest-{i}", seq, bodies[i])

        started = time.perf_counter()
        await asyncio.gather(*(sender(i) for i in range(SENDERS)))
        return time.perf_counter() - started


async def _sink_sessions(url: str, bodies: list[bytes]) -> float:
    """The same 16 x 30 PUTs to the reference app, which reads each body and drops it."""
    async with _client() as client:

        async def put(i: int, seq: int) -> None:
            answer = await client.put(f"{url}/sink/ingest-{i}/{seq}", content=bodies[i])
            if answer.status_code != 201:
                raise RuntimeError(f"sink answered {answer.status_code}")

        await asyncio.gather(*(put(i, 0) for i in range(SENDERS)))

        async def sender(i: int) -> None:
            for seq in range(1, CHUNKS_PER_SENDER + 1):
                await put(i, seq)

        started = time.perf_counter()
        await asyncio.gather(*(sender(i) for i in range(SENDERS)))
        return time.perf_counter() - started


def _meeting_chunk(base: bytes, seq: int) -> bytes:
    """Distinct payload per seq (its number stamped in front), so reordering would show."""
    payload = seq.to_bytes(8, "big") + base[8:]
    return build_wav_header(PCM16_MONO_16K, MEETING_PAYLOAD) + payload


async def _ingest_meeting(url: str, uid: str, base: bytes) -> float:
    """480 chunks of one session, 16 in flight, no X-Final: finalize is called separately."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for seq in range(MEETING_CHUNKS):
        queue.put_nowait(seq)
    async with _client() as client:
        await _send(client, url, uid, 0, _meeting_chunk(base, queue.get_nowait()))

        async def sender() -> None:
            while not queue.empty():
                seq = queue.get_nowait()
                await _send(client, url, uid, seq, _meeting_chunk(base, seq))

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        return time.perf_counter() - started


def _publish(directory: Path, name: str, body: bytes) -> None:
    """What a durable put costs without the service: temp, write, fsync, rename, fsync dir."""
    final = directory / name
    temp = directory / f".tmp-{name}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, final)
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _reference_publish(root: Path, bodies: list[bytes], threads: int) -> float:
    """16 directories x 30 files, like the 16 sessions; `threads` workers share the list."""
    jobs = []
    for i in range(SENDERS):
        directory = root / f"s{i}"
        directory.mkdir(parents=True)
        jobs += [(directory, f"{seq:010d}.wav", bodies[i]) for seq in range(CHUNKS_PER_SENDER)]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not jobs:
                    return
                job = jobs.pop()
            _publish(*job)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - started


def _timed(action: Callable[[], None], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(work: Path, opts: Options) -> list[Row]:
    rows: list[Row] = []
    store = work / "ingest-store"
    env = app_env(STORAGE_BACKEND="local", LOCAL_STORAGE_DIR=str(store), LOCAL_STORAGE_FSYNC="true")
    app = start_app(env, work)
    try:
        assert app.process is not None
        pid = app.process.pid
        bodies = _chunk_bodies()
        total = SENDERS * CHUNKS_PER_SENDER

        log(f"ingest: {SENDERS} senders x {CHUNKS_PER_SENDER} chunks of 480 KiB, fsync on")
        cpu0, client0 = cpu_seconds(pid), time.process_time()
        wall = asyncio.run(_ingest_sessions(app.url, bodies))
        server_cpu, client_cpu = cpu_seconds(pid) - cpu0, time.process_time() - client0
        ours = total / wall
        ref16 = total / _reference_publish(work / "ref-publish-16", bodies, SENDERS)
        ref1 = total / _reference_publish(work / "ref-publish-1", bodies, 1)
        with running(RefApp(work, {})) as ref:
            assert ref.process is not None
            ref_cpu0 = cpu_seconds(ref.process.pid)
            sink = total / asyncio.run(_sink_sessions(ref.url, bodies))
            sink_cpu = (cpu_seconds(ref.process.pid) - ref_cpu0) / total
        cpu_note = (
            f"{total} chunks in {wall:.2f} s; server CPU {server_cpu:.2f} s "
            f"({server_cpu / wall:.0%} of one core), bench client CPU {client_cpu:.2f} s"
        )
        rows.append(
            Row(
                "chunk ingest 480 KiB, fsync, 16 senders",
                ours,
                "chunks/s",
                ref16,
                "write+fsync+rename+dir fsync, 16 threads",
                note=cpu_note,
            )
        )
        rows.append(
            Row(
                "chunk ingest 480 KiB, fsync, 16 senders vs HTTP ceiling",
                ours,
                "chunks/s",
                sink,
                "same Hypercorn, body read and dropped",
                note=f"server CPU per chunk: ours {server_cpu / total * 1e3:.2f} ms, "
                f"body-dropping app {sink_cpu * 1e3:.2f} ms",
            )
        )
        rows.append(
            Row(
                "chunk ingest 480 KiB, fsync, 16 senders vs 1 thread",
                ours,
                "chunks/s",
                ref1,
                "same loop, 1 thread",
            )
        )

        log(
            f"finalize: {FINALIZE_RUNS} sessions of {MEETING_CHUNKS} chunks of "
            f"{MEETING_PAYLOAD + HEADER:,} bytes"
        )
        base = random_bytes(MEETING_PAYLOAD, 7)
        digest = hashlib.sha256(build_wav_header(PCM16_MONO_16K, MEETING_PAYLOAD * MEETING_CHUNKS))
        for seq in range(MEETING_CHUNKS):
            digest.update(_meeting_chunk(base, seq)[HEADER:])
        size = HEADER + MEETING_PAYLOAD * MEETING_CHUNKS
        runs: list[tuple[float, float, int, int, int]] = []  # time, cpu, idle, peak, samples
        upload_rates: list[float] = []
        upload_cpu: list[float] = []
        for run in range(FINALIZE_RUNS):
            uid = f"bench-2h-meeting-{run}"
            cpu0 = cpu_seconds(pid)
            wall = asyncio.run(_ingest_meeting(app.url, uid, base))
            upload_cpu.append((cpu_seconds(pid) - cpu0) / (MEETING_CHUNKS - 1))
            upload_rates.append((MEETING_CHUNKS - 1) / wall)
            time.sleep(0.3)
            idle = proc_status(pid, "VmRSS")
            cpu0 = cpu_seconds(pid)
            with RssSampler(pid) as sampler:
                started = time.perf_counter()
                answer = httpx.post(
                    f"{app.url}/ingest/sessions/{uid}/finalize?user_id=1",
                    headers=ingest_headers(),
                    timeout=httpx.Timeout(300),
                )
                finalize_s = time.perf_counter() - started
            answer.raise_for_status()
            media = answer.json()["media_files"][0]
            if media["file_size_bytes"] != size or media["sha256"] != digest.hexdigest():
                raise RuntimeError(f"finalized master is wrong: {media}")
            runs.append(
                (
                    finalize_s,
                    cpu_seconds(pid) - cpu0,
                    idle,
                    sampler.peak_kib,
                    len(sampler.samples),
                )
            )
        rows.append(
            Row(
                "chunk ingest 469 KiB, fsync, 1 session, 16 in flight",
                max(upload_rates),
                "chunks/s",
                ref16,
                "write+fsync+rename+dir fsync, 16 threads",
                note=f"best of {FINALIZE_RUNS}; "
                + ", ".join(f"{r:.0f}" for r in upload_rates)
                + f" chunks/s; server CPU per chunk {min(upload_cpu) * 1e3:.2f} ms",
            )
        )
        finalize_s, server_cpu, idle, peak, samples = min(runs)
        growth = max(r[3] - r[2] for r in runs) / 1024

        chunk_dir = next(store.glob(f"recordings/1/*/{uid}/audio/chunks"))  # the last run's
        files = sorted(str(p) for p in chunk_dir.glob("*.wav"))
        if len(files) != MEETING_CHUNKS:
            raise RuntimeError(f"expected {MEETING_CHUNKS} chunk files, found {len(files)}")
        out = work / "cat-out.wav"

        def cat() -> None:
            with open(out, "wb") as target:
                subprocess.run(["cat", *files], stdout=target, check=True)

        def cat_fsync() -> None:
            with open(out, "wb") as target:
                subprocess.run(["cat", *files], stdout=target, check=True)
                os.fsync(target.fileno())

        cat_s = _timed(cat)
        cat_sync_s = _timed(cat_fsync)
        out.unlink()
        name = "finalize 480 chunks (2 h, 230 MB), time"
        rows.append(
            Row(
                name,
                finalize_s,
                "s",
                cat_s,
                "cat of the 480 chunk files",
                note=(
                    "ratio is time / cat time (lower is better); best of "
                    + ", ".join(f"{r[0]:.2f}" for r in runs)
                    + f" s; server CPU {server_cpu:.2f} s; master sha256 and size verified; "
                    "cat median of 3"
                ),
            )
        )
        rows.append(Row(name + " vs cat+fsync", finalize_s, "s", cat_sync_s, "cat + fsync"))
        rows.append(
            Row(
                "RSS growth during finalize",
                growth,
                "MiB",
                note=f"largest of {FINALIZE_RUNS} runs; idle {idle / 1024:.0f} MiB, "
                f"peak {peak / 1024:.0f} MiB; VmRSS every 10 ms ({samples} samples)",
            )
        )
    finally:
        app.stop()
    return rows
