"""Scale-out benchmark (issue 15): chunk ingest through nginx with 1 and with 3 replicas.

A SeaweedFS cluster (master, two volume servers, filer, S3 gateway: tests/scale/cluster.py), three
replicas on one bucket, and two nginx instances running the shipped example config: one with
replica 0 alone in its upstream, one with all three. Recorders speak Vexa's wire format (multipart
POST /internal/recordings/upload): 24 sessions, each sending 8 chunks of 480 KiB one after another
(192 chunks, 92 MiB per run). Runs alternate between the two proxies; the best throughput and the
best p99 of each count. Replicas run without the reconciler, so only ingest is measured.

Ratios: throughput 3 replicas / 1 replica (the scale-out factor) and p99 ack latency 1 / 3 (above
1 when three replicas answer faster). On one 2-core machine every process (SeaweedFS's five,
the replicas, nginx, the client) shares the same cores, so the factor is bounded by the CPU that
a single replica leaves idle, not by the design.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.bench.tools import KIB, Options, Row, log, wav_chunk
from tests.ingestkit import VexaBot
from tests.nginxkit import NginxProxy
from tests.scale.cluster import WeedCluster, replica_env
from tests.servers import AppServer, free_ports, make_bucket

SESSIONS = 24
CHUNKS = 8
CHUNK_BYTES = 480 * KIB


async def _session(url: str, uid: str, user: int, body: bytes, acks: list[float]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        bot = VexaBot(http, uid, user)
        for seq in range(CHUNKS):
            started = time.perf_counter()
            answer = await bot.send(seq, body)
            if answer.status_code != 201:
                raise RuntimeError(f"{uid}/{seq}: {answer.status_code} {answer.text[:200]}")
            acks.append(time.perf_counter() - started)


def _run(url: str, tag: str, body: bytes) -> tuple[float, float]:
    """(chunks per second, p99 ack latency in ms) of one run."""
    acks: list[float] = []

    async def drive() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(_session(url, f"bench-{tag}-{i}", 1 + i, body, acks) for i in range(SESSIONS))
        )
        return time.perf_counter() - started

    wall = asyncio.run(drive())
    acks.sort()
    return len(acks) / wall, acks[int(len(acks) * 0.99) - 1] * 1000


def run(work: Path, opts: Options) -> list[Row]:
    body = wav_chunk(CHUNK_BYTES - 44, 15)  # a whole WAV file per chunk, as Vexa's bot sends
    cluster = WeedCluster(work / "weed")
    replicas: list[AppServer] = []
    proxies: dict[int, NginxProxy] = {}
    try:
        cluster.start()
        env = {**replica_env(cluster.endpoint, make_bucket(cluster.endpoint))}
        env["LITE_RECONCILE_INTERVAL_SECONDS"] = "0"
        for port in free_ports(3):
            replicas.append(AppServer(env, work, port=port).start(timeout=60))
        upstreams = [f"127.0.0.1:{r.port}" for r in replicas]
        for count in (1, 3):
            proxies[count] = NginxProxy(work / f"nginx-{count}", upstreams[:count]).start()
        results: dict[int, list[tuple[float, float]]] = {1: [], 3: []}
        for round_no in range(opts.rounds):
            for count in (1, 3):
                rate, p99 = _run(proxies[count].url, f"{round_no}-{count}", body)
                log(f"scale: {count} replica(s): {rate:.1f} chunks/s, p99 {p99:.0f} ms")
                results[count].append((rate, p99))
    finally:
        for proxy in proxies.values():
            proxy.stop()
        for replica in replicas:
            replica.stop(grace=10)
        cluster.stop()
    best_rate = {n: max(r for r, _ in results[n]) for n in results}
    best_p99 = {n: min(p for _, p in results[n]) for n in results}
    mib = CHUNK_BYTES / (1024 * 1024)
    note = (
        f"{SESSIONS} Vexa-wire sessions x {CHUNKS} chunks of 480 KiB through nginx to SeaweedFS "
        f"(5 processes) on {len(results[1])} interleaved runs; 1 replica "
        f"{best_rate[1] * mib:.1f} MiB/s, 3 replicas {best_rate[3] * mib:.1f} MiB/s"
    )
    return [
        Row(
            "ingest via nginx, 3 replicas vs 1",
            best_rate[3],
            "chunks/s",
            best_rate[1],
            "1 replica",
            note=note,
        ),
        Row("p99 ack via nginx, 1 replica vs 3", best_p99[1], "ms", best_p99[3], "3 replicas"),
    ]
