"""Playback benchmarks (issue 4): `/raw` against nginx, Starlette and SeaweedFS, and peak RSS.

Local: one 256 MiB master (uploaded as one chunk with X-Final, so finalize runs inline), read once
so it is page-cached, then served by the app, by nginx (sendfile) and by Starlette `FileResponse`
on the same Hypercorn. S3: a 64 MiB master in SeaweedFS, served by the app in s3 mode and fetched
directly with the presigned URL that `/download` hands out. wrk is the client everywhere.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bench.refapp import DEFAULT_CHUNK
from tests.bench.tools import (
    KIB,
    MIB,
    Nginx,
    Options,
    RefApp,
    Row,
    RssSampler,
    WrkResult,
    app_env,
    cpu_seconds,
    create_api_key,
    log,
    media_of,
    proc_status,
    reset_peak,
    running,
    start_app,
    upload_single,
    warm_file,
    write_wav,
    wrk,
)
from tests.servers import AppServer, SeaweedServer, make_bucket

LOCAL_SIZE = 256 * MIB
S3_SIZE = 64 * MIB
RANGE = 64 * KIB
RANGE_CONNECTIONS = 16
RSS_STREAMS = 64
WARMUP_SECONDS = 1.0


@dataclass
class Target:
    """A URL to load with wrk, and the pid of the process serving it (for CPU accounting)."""

    label: str
    url: str
    pid: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Measured:
    best: WrkResult
    runs: list[WrkResult]
    cpu_seconds: list[float]  # server CPU of each measured run

    def spread(self, unit: Callable[[WrkResult], float]) -> str:
        values = sorted(unit(r) for r in self.runs)
        return f"{values[0]:,.0f}-{values[-1]:,.0f}" if len(values) > 1 else f"{values[0]:,.0f}"

    def cpu_per_request_us(self) -> float:
        return statistics.median(
            c / max(r.requests, 1) * 1e6 for c, r in zip(self.cpu_seconds, self.runs, strict=True)
        )

    def cpu_per_gb(self) -> float:
        return statistics.median(
            c / max(r.bytes, 1) * 1e9 for c, r in zip(self.cpu_seconds, self.runs, strict=True)
        )


def _compare(
    targets: list[Target],
    work: Path,
    opts: Options,
    connections: int,
    ranges: tuple[int, int] | None = None,
) -> dict[str, Measured]:
    """Warm every target up, then `opts.rounds` rounds that run each target in turn (so a noisy
    neighbour hits all of them alike); the best run of each target counts."""
    for t in targets:
        wrk(
            t.url,
            work,
            connections=connections,
            seconds=WARMUP_SECONDS,
            headers=t.headers,
            ranges=ranges,
        )
    runs: dict[str, list[WrkResult]] = {t.label: [] for t in targets}
    cpu: dict[str, list[float]] = {t.label: [] for t in targets}
    for _ in range(opts.rounds):
        for t in targets:
            before = cpu_seconds(t.pid)
            runs[t.label].append(
                wrk(
                    t.url,
                    work,
                    connections=connections,
                    seconds=opts.seconds,
                    headers=t.headers,
                    ranges=ranges,
                )
            )
            cpu[t.label].append(cpu_seconds(t.pid) - before)
    return {
        label: Measured(max(results, key=lambda r: r.bytes / r.seconds), results, cpu[label])
        for label, results in runs.items()
    }


def _check_range(url: str, headers: dict[str, str], expected: bytes, what: str) -> None:
    """Before measuring: the server answers a 64 KiB range with exactly those bytes."""
    got = httpx.get(url, headers={**headers, "Range": f"bytes=0-{RANGE - 1}"}, timeout=30)
    if got.status_code != 206 or got.content != expected:
        raise RuntimeError(f"{what}: a 64 KiB range gave {got.status_code}, {len(got.content)} B")


def _problems(**results: Measured) -> list[str]:
    found = []
    for who, measured in results.items():
        for run in measured.runs:
            if run.problems():
                found.append(f"{who}: wrk saw {run.problems()}")
                break
    return found


def _full_row(name: str, ours: Measured, ref: Measured, ref_name: str, **target: float) -> Row:
    def mb(r: WrkResult) -> float:
        return r.mb_per_s

    note = [
        f"best of {len(ours.runs)}; ours {ours.spread(mb)} MB/s, reference {ref.spread(mb)} MB/s",
        f"server CPU per GB: ours {ours.cpu_per_gb():.2f} s, reference {ref.cpu_per_gb():.2f} s",
        *_problems(ours=ours, reference=ref),
    ]
    return Row(
        name,
        ours.best.mb_per_s,
        "MB/s",
        ref.best.mb_per_s,
        ref_name,
        note="; ".join(note),
        **target,
    )


def _range_row(name: str, ours: Measured, ref: Measured, ref_name: str, **target: float) -> Row:
    def rps(r: WrkResult) -> float:
        return r.req_per_s

    note = [
        f"best of {len(ours.runs)}; ours {ours.spread(rps)} req/s, reference {ref.spread(rps)}",
        f"server CPU per request: ours {ours.cpu_per_request_us():,.0f} us, "
        f"reference {ref.cpu_per_request_us():,.0f} us",
        f"p50/p99 ours {ours.best.p50_ms:.1f}/{ours.best.p99_ms:.1f} ms, "
        f"reference {ref.best.p50_ms:.1f}/{ref.best.p99_ms:.1f} ms",
        *_problems(ours=ours, reference=ref),
    ]
    return Row(
        name,
        ours.best.req_per_s,
        "req/s",
        ref.best.req_per_s,
        ref_name,
        note="; ".join(note),
        **target,
    )


def run_local(work: Path, opts: Options) -> list[Row]:
    rows: list[Row] = []
    store = work / "recordings"
    env = app_env(
        STORAGE_BACKEND="local",
        LOCAL_STORAGE_DIR=str(store),
        # Setup speed only: reads do not depend on it (the ingest benchmarks run with fsync on).
        LOCAL_STORAGE_FSYNC="false",
    )
    source = work / "input-256m.wav"
    write_wav(source, LOCAL_SIZE)
    app = start_app(env, work)
    try:
        assert app.process is not None
        key = create_api_key(app.url)
        started = time.monotonic()
        done = upload_single(app.url, "bench-local-256m", source)
        log(f"uploaded and finalized 256 MiB in {time.monotonic() - started:.1f} s")
        source.unlink()
        rec, media_id = done["recording_id"], done["media_file_id"]
        media = media_of(app.url, key, rec)
        if media["file_size_bytes"] != LOCAL_SIZE:
            raise RuntimeError(f"master is {media['file_size_bytes']} bytes, not {LOCAL_SIZE}")
        master = store / "recordings" / "1" / str(rec) / "bench-local-256m.wav"
        warm_file(master)
        head = _head(master)
        raw_path = f"/recordings/{rec}/media/{media_id}/raw"
        auth = {"X-API-Key": key}
        _check_range(app.url + raw_path, auth, head, "app /raw")
        _wait_for_peaks(app.url + raw_path, auth)
        nginx = Nginx(work, master.parent)
        ref = RefApp(work, {"BENCH_FILE": str(master)})
        with running(nginx), running(ref):
            assert nginx.process is not None and ref.process is not None
            nginx_url = f"{nginx.url}/files/{master.name}"
            _check_range(nginx_url, {}, head, "nginx")
            _check_range(f"{ref.url}/file", {}, head, "FileResponse")
            ours = Target("ours", app.url + raw_path, app.process.pid, auth)
            by_nginx = Target("nginx", nginx_url, nginx.process.pid)
            file64k = Target("file", f"{ref.url}/file", ref.process.pid)

            log("full file, 1 connection: nginx, FileResponse (64 KiB, 1 MiB chunks), /raw")
            file1m = Target("file1m", f"{ref.url}/file1m", ref.process.pid)
            full = _compare([by_nginx, file64k, file1m, ours], work, opts, 1)
            name = "/raw full file 256 MiB local, 1 conn"
            rows.append(
                _full_row(
                    name + " vs nginx",
                    full["ours"],
                    full["nginx"],
                    "nginx sendfile",
                    minimum_ratio=0.6,
                )
            )
            rows.append(
                _full_row(
                    name + " vs FileResponse",
                    full["ours"],
                    full["file"],
                    f"FileResponse {DEFAULT_CHUNK // KIB} KiB chunks (default)",
                )
            )
            rows.append(
                _full_row(
                    name + " vs FileResponse 1 MiB",
                    full["ours"],
                    full["file1m"],
                    "FileResponse 1 MiB chunks",
                )
            )

            log(f"64 KiB random ranges, {RANGE_CONNECTIONS} connections")
            mem = Target("mem", f"{ref.url}/mem64k", ref.process.pid)
            spec = (LOCAL_SIZE, RANGE)
            ranged = _compare([mem, ours, file64k, by_nginx], work, opts, RANGE_CONNECTIONS, spec)
            name = f"/raw 64 KiB ranges local, {RANGE_CONNECTIONS} conn"
            rows.append(
                _range_row(
                    name + " vs in-memory",
                    ranged["ours"],
                    ranged["mem"],
                    "64 KiB in-memory body, same Hypercorn",
                    minimum_ratio=0.8,
                )
            )
            rows.append(
                _range_row(
                    name + " vs FileResponse", ranged["ours"], ranged["file"], "FileResponse"
                )
            )
            rows.append(_range_row(name + " vs nginx", ranged["ours"], ranged["nginx"], "nginx"))
    finally:
        app.stop()
    rows += _rss(work, env, raw_path, auth, head, opts)
    return rows


def _wait_for_peaks(raw_url: str, auth: dict[str, str]) -> None:
    """Finalize starts the waveform peaks in the background (a 256 MiB decode in worker threads):
    wait for them, so they do not share the CPU with the runs measured next."""
    answer = httpx.get(raw_url.rsplit("/", 1)[0] + "/peaks", headers=auth, timeout=300)
    answer.raise_for_status()


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(RANGE)


def _rss(
    work: Path,
    env: dict[str, str],
    raw_path: str,
    auth: dict[str, str],
    head: bytes,
    opts: Options,
) -> list[Row]:
    """A fresh app process on the same store: idle RSS, then 64 concurrent full-file streams."""
    log(f"RSS with {RSS_STREAMS} concurrent full-file streams (fresh process)")
    app = start_app(env, work)
    try:
        assert app.process is not None
        pid = app.process.pid
        raw = app.url + raw_path
        # One request first, so lazily imported code is counted in the idle figure.
        _check_range(raw, auth, head, "app /raw (fresh)")
        time.sleep(0.5)
        idle = proc_status(pid, "VmRSS")
        reset = reset_peak(pid)
        with RssSampler(pid) as sampler:
            result = wrk(raw, work, connections=RSS_STREAMS, seconds=opts.seconds + 3, headers=auth)
        peak = sampler.peak_kib
        if reset:
            peak = max(peak, proc_status(pid, "VmHWM"))
        note = [
            f"idle {idle / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB "
            f"({'VmHWM reset before the run, and ' if reset else ''}VmRSS every 10 ms)",
            f"aggregate {result.mb_per_s:,.0f} MB/s over {RSS_STREAMS} streams",
        ]
        if result.problems():
            note.append(f"wrk saw {result.problems()}")
        streams = f"{RSS_STREAMS} concurrent full-file streams (256 MiB)"
        return [
            Row(f"RSS growth, {streams}", (peak - idle) / 1024, "MiB", note="; ".join(note)),
            Row(f"peak RSS, {streams}", peak / 1024, "MiB", maximum_value=100),
            Row("idle RSS after one range", idle / 1024, "MiB", maximum_value=60),
        ]
    finally:
        app.stop()


def run_s3(work: Path, opts: Options) -> list[Row]:
    rows: list[Row] = []
    weed_dir = work / "seaweed"
    weed_dir.mkdir()
    log("starting SeaweedFS")
    weed = SeaweedServer(weed_dir)
    app: AppServer | None = None
    try:
        weed.start()
        assert weed.process is not None
        bucket = make_bucket(weed.endpoint)
        env = app_env(
            STORAGE_BACKEND="s3",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            S3_BUCKET=bucket,
            S3_ENDPOINT=weed.endpoint,
            S3_SECURE="false",
        )
        source = work / "input-64m.wav"
        write_wav(source, S3_SIZE, seed=2)
        with open(source, "rb") as f:
            head = f.read(RANGE)
        app = start_app(env, work)
        assert app.process is not None
        key = create_api_key(app.url)
        started = time.monotonic()
        done = upload_single(app.url, "bench-s3-64m", source)
        log(f"uploaded and finalized 64 MiB on SeaweedFS in {time.monotonic() - started:.1f} s")
        source.unlink()
        rec, media_id = done["recording_id"], done["media_file_id"]
        if media_of(app.url, key, rec)["file_size_bytes"] != S3_SIZE:
            raise RuntimeError("S3 master has the wrong size")
        auth = {"X-API-Key": key}
        raw = f"{app.url}/recordings/{rec}/media/{media_id}/raw"
        download = httpx.get(raw.rsplit("/", 1)[0] + "/download", headers=auth, timeout=30)
        download.raise_for_status()
        presigned = download.json()["url"]
        if not presigned.startswith(weed.endpoint):
            raise RuntimeError(f"expected a presigned SeaweedFS URL, got {presigned[:80]}")
        _check_range(raw, auth, head, "app /raw (s3)")
        _wait_for_peaks(raw, auth)
        _check_range(presigned, {}, head, "SeaweedFS presigned")
        ours = Target("ours", raw, app.process.pid, auth)
        direct = Target("direct", presigned, weed.process.pid)

        log("S3 full file, 1 connection: presigned GET, /raw")
        full = _compare([direct, ours], work, opts, 1)
        rows.append(
            _full_row(
                "/raw full file 64 MiB S3, 1 conn",
                full["ours"],
                full["direct"],
                "presigned GET from SeaweedFS",
                minimum_ratio=0.8,
            )
        )
        log(f"S3 64 KiB random ranges, {RANGE_CONNECTIONS} connections")
        ranged = _compare([direct, ours], work, opts, RANGE_CONNECTIONS, (S3_SIZE, RANGE))
        rows.append(
            _range_row(
                f"/raw 64 KiB ranges S3, {RANGE_CONNECTIONS} conn",
                ranged["ours"],
                ranged["direct"],
                "presigned ranged GET",
                minimum_ratio=0.5,  # the target: every range costs the app a signed S3 call
            )
        )
    finally:
        if app is not None:
            app.stop()
        weed.stop()
    return rows
