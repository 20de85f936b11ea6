"""Simulated recorder bots (issue 16): open-loop chunk ingest against one app, local fsync on.

Each bot is a session sending a whole WAV file as a chunk every `interval` seconds, starting at a
random phase, on its own schedule whether or not its last answer came (open loop): a bot whose
last PUT is still running opens another connection, as a real recorder with a timer would. Latency
runs from the scheduled send time to the end of the answer, so a server that falls behind shows
it in the figures instead of slowing the senders down (no coordinated omission). The client is a
minimal HTTP/1.1 writer on asyncio streams, so thousands of bots cost the bench little CPU.

Sizes are bounded so the section runs in well under a minute on 2 cores: `LITE_BENCH_BOTS`,
`LITE_BENCH_BOT_SECONDS` scale it up to the issue's 2,000 bots when the machine is free.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from lite.wav import build_wav_header
from tests.bench.tools import (
    INTERNAL_SECRET,
    KIB,
    PCM16_MONO_16K,
    Options,
    Row,
    RssSampler,
    app_env,
    cpu_seconds,
    log,
    proc_status,
    random_bytes,
    start_app,
)

HEADER = len(build_wav_header(PCM16_MONO_16K, 0))


@dataclass(frozen=True)
class Load:
    name: str
    bots: int
    chunk_bytes: int
    interval: float
    seconds: float

    @property
    def offered(self) -> float:
        return self.bots / self.interval


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    last_ack: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


class Bot:
    def __init__(self, port: int, uid: str, body: bytes, outcome: Outcome) -> None:
        self.port, self.uid, self.body, self.outcome = port, uid, body, outcome
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, seq: int, scheduled: float) -> None:
        try:
            reader, writer = self.idle.pop() if self.idle else await self._connect()
            head = (
                f"PUT /ingest/sessions/{self.uid}/audio/chunks/{seq}?user_id=1 HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {INTERNAL_SECRET}\r\n"
                f"Content-Type: audio/wav\r\nContent-Length: {len(self.body)}\r\n\r\n"
            )
            writer.write(head.encode() + self.body)
            status = await self._answer(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.outcome.error(type(exc).__name__)
            return
        if status != 201:
            self.outcome.error(str(status))
            return
        self.outcome.last_ack = time.perf_counter()
        self.outcome.latencies.append(self.outcome.last_ack - scheduled)
        self.idle.append((reader, writer))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(lines[0].split()[1])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _drive(port: int, load: Load, tag: str) -> Outcome:
    outcome = Outcome()
    payload = load.chunk_bytes - HEADER
    body = build_wav_header(PCM16_MONO_16K, payload) + random_bytes(payload, 16)
    bots = [Bot(port, f"bots-{tag}-{i}", body, outcome) for i in range(load.bots)]
    rng = random.Random(16)
    start = outcome.started = time.perf_counter() + 0.2
    tasks: list[asyncio.Task[None]] = []

    async def schedule(bot: Bot) -> None:
        at, seq = start + rng.uniform(0, load.interval), 0
        while at < start + load.seconds:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            tasks.append(asyncio.create_task(bot.send(seq, at)))
            at, seq = at + load.interval, seq + 1

    await asyncio.gather(*(schedule(bot) for bot in bots))
    _, late = await asyncio.wait(tasks, timeout=30) if tasks else (set(), set())
    for task in late:
        task.cancel()
        outcome.error("no answer in 30 s")
    for bot in bots:
        bot.close()
    return outcome


def _rows(load: Load, outcome: Outcome, cpu: float, idle_kib: int, peak_kib: int) -> list[Row]:
    acked = len(outcome.latencies)
    errors = sum(outcome.errors.values())
    per_chunk_ms = cpu / max(1, acked) * 1000
    note = (
        f"{load.bots} bots x {load.chunk_bytes // KIB} KiB every {load.interval:g} s for "
        f"{load.seconds:g} s: {acked} acked, the last at "
        f"{outcome.last_ack - outcome.started:.1f} s, p50 {outcome.percentile(0.5):.0f} ms, "
        f"p99 {outcome.percentile(0.99):.0f} ms, max {outcome.percentile(1.0):.0f} ms, "
        f"errors {outcome.errors or 0}; server CPU {cpu:.1f} s ({per_chunk_ms:.1f} ms/chunk, "
        f"{cpu / load.seconds:.0%} of one core), RSS idle {idle_kib / 1024:.0f} MiB "
        f"peak {peak_kib / 1024:.0f} MiB"
    )
    # Acks over the time until the last one came: a server that falls behind answers late, and
    # its rate is below the offered one.
    rate = acked / max(load.seconds, outcome.last_ack - outcome.started)
    return [
        Row(
            f"bots {load.name}: acked vs offered",
            rate,
            "chunks/s",
            load.offered,
            "offered",
            minimum_ratio=0.95,
            note=note,
        ),
        Row(f"bots {load.name}: p99 ack", outcome.percentile(0.99), "ms", maximum_value=100),
        Row(f"bots {load.name}: errors", float(errors), "", maximum_value=0),
        Row(f"bots {load.name}: server CPU per chunk", per_chunk_ms, "ms"),
    ]


def loads(opts: Options) -> list[Load]:
    bots = int(os.environ.get("LITE_BENCH_BOTS", "200"))
    seconds = float(os.environ.get("LITE_BENCH_BOT_SECONDS", str(max(opts.seconds * 3, 8))))
    # The 2,000 bots every 15 s is 133 chunks/s; the default keeps that rate with 10x
    # fewer bots (every 1.5 s), and the tiny-chunk load asks for 200 chunks/s.
    return [
        Load("240 KiB", bots, 240 * KIB, 15 * bots / 2000, seconds),
        Load("1 KiB", bots, 1 * KIB, bots / 200, seconds),
    ]


def run(work: Path, opts: Options) -> list[Row]:
    rows: list[Row] = []
    for number, load in enumerate(loads(opts)):
        env = app_env(
            STORAGE_BACKEND="local",
            LOCAL_STORAGE_DIR=str(work / f"store-{number}"),
            LOCAL_STORAGE_FSYNC="true",
        )
        app = start_app(env, work)
        try:
            assert app.process is not None
            pid, port = app.process.pid, int(app.url.rsplit(":", 1)[1])
            idle = proc_status(pid, "VmRSS")
            log(f"bots: {load.bots} x {load.chunk_bytes // KIB} KiB every {load.interval:g} s")
            cpu0 = cpu_seconds(pid)
            with RssSampler(pid, interval=0.05) as rss:
                outcome = asyncio.run(_drive(port, load, str(number)))
            rows += _rows(load, outcome, cpu_seconds(pid) - cpu0, idle, rss.peak_kib)
            log(f"bots: {rows[-4].note}")
        finally:
            app.stop()
    return rows
