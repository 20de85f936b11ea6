"""Start-up benchmark (issue 16): process start to the first `/readyz` 200, and idle RSS.

`python -m lite serve` on the local backend and a fixed free port is polled every 5 ms with a
raw socket until `/readyz` answers 200; the same is done for the reference, the trivial Starlette
app of `tests.bench.refapp` under the same Hypercorn (`/mem64k`). Runs alternate; the fastest of
each counts. Wall time depends on how busy the machine is, so the server's own CPU seconds at the
moment it first answered are reported beside it. Idle RSS is read after a few requests have
loaded what the first requests import lazily.
"""

from __future__ import annotations

import compileall
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.tools import Options, Row, app_env, cpu_seconds, log, proc_status
from tests.servers import ROOT, free_ports

RUNS = 3
DEADLINE = 60.0


@dataclass
class Started:
    seconds: float  # Popen to the first 200
    cpu: float  # the server's CPU seconds at that moment
    idle_rss_kib: int


def _status(port: int, path: str) -> int:
    """The status of one GET, or 0 when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            line = sock.recv(64).split(b"\r\n", 1)[0].split()
            return int(line[1]) if len(line) > 1 else 0
    except OSError:
        return 0


def _start(cmd: list[str], env: dict[str, str], port: int, path: str, log_path: Path) -> Started:
    with open(log_path, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        while _status(port, path) != 200:
            if process.poll() is not None or time.perf_counter() - started > DEADLINE:
                raise RuntimeError(f"{cmd[-1]} did not answer: {log_path.read_text()[-2000:]}")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
        for _ in range(5):
            _status(port, path)
        time.sleep(0.3)
        return Started(seconds, cpu, proc_status(process.pid, "VmRSS"))
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _ours(work: Path, run_no: int) -> Started:
    port = free_ports(1)[0]
    env = {**os.environ, **app_env(STORAGE_BACKEND="local", LOCAL_STORAGE_DIR=str(work / "store"))}
    cmd = [sys.executable, "-m", "lite", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return _start(cmd, env, port, "/readyz", work / f"app-{run_no}.log")


def _reference(work: Path, run_no: int) -> Started:
    port = free_ports(1)[0]
    script = Path(sys.executable).parent / "hypercorn"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "hypercorn"]
    cmd += ["-w", "0", "-b", f"127.0.0.1:{port}", "tests.bench.refapp:app"]
    return _start(cmd, dict(os.environ), port, "/mem64k", work / f"ref-{run_no}.log")


def run(work: Path, opts: Options) -> list[Row]:
    for package in ("lite", "tests"):
        compileall.compile_dir(ROOT / package, quiet=1)
    ours: list[Started] = []
    refs: list[Started] = []
    for run_no in range(RUNS):
        ours.append(_ours(work, run_no))
        refs.append(_reference(work, run_no))
        log(
            f"startup: app {ours[-1].seconds:.3f} s (CPU {ours[-1].cpu:.2f} s), "
            f"reference {refs[-1].seconds:.3f} s (CPU {refs[-1].cpu:.2f} s)"
        )
    best, ref = min(ours, key=lambda s: s.seconds), min(refs, key=lambda s: s.seconds)
    cpu, ref_cpu = min(s.cpu for s in ours), min(s.cpu for s in refs)
    idle = min(s.idle_rss_kib for s in ours) / 1024
    ref_idle = min(s.idle_rss_kib for s in refs) / 1024
    walls = ", ".join(f"{s.seconds:.2f}" for s in ours)
    return [
        Row(
            "start to /readyz 200, local",
            best.seconds,
            "s",
            ref.seconds,
            "trivial app, same Hypercorn",
            maximum_value=0.3,
            note=f"best of {RUNS} ({walls} s); the machine's load inflates wall time",
        ),
        Row("  server CPU until /readyz 200", cpu, "s", ref_cpu, "trivial app"),
        Row("idle RSS, local", idle, "MiB", ref_idle, "trivial app", maximum_value=60),
    ]
