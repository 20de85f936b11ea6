"""Machinery shared by the benchmarks: result rows, wrk runs, reference servers, RSS sampling.

Reference servers are started here and ended by their pid: Debian's nginx (sendfile on,
`tcp_nopush off`, one worker, its own config, pid and logs in a temp dir) and the tiny Starlette app
of `tests.bench.refapp` under the venv's `hypercorn -w 0` (one process, like `lite serve`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lite.wav import WavFormat, build_wav_header
from tests.servers import ROOT, AppServer, free_ports

MIB = 1024 * 1024
KIB = 1024
ADMIN_TOKEN = "bench-admin-token"
INTERNAL_SECRET = "bench-internal-secret"
PCM16_MONO_16K = WavFormat(1, 1, 16000, 32000, 2, 16)
WRK_TIMEOUT = "120s"


@dataclass(frozen=True)
class Options:
    seconds: float = 3.0  # length of each measured wrk run
    rounds: int = 3  # interleaved runs per target; the best counts


# --- results --------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the final table. `ratio` is ours / reference."""

    name: str
    ours: float | None
    unit: str
    reference: float | None = None
    ref_name: str = ""
    minimum_ratio: float | None = None  # target: ratio >= this
    maximum_value: float | None = None  # target: ours <= this (in `unit`)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference

    @property
    def target(self) -> str:
        if self.minimum_ratio is not None:
            return f">= {self.minimum_ratio:g}"
        if self.maximum_value is not None:
            return f"<= {self.maximum_value:g} {self.unit}"
        return "-"

    @property
    def reached(self) -> str:
        if self.minimum_ratio is not None:
            ratio = self.ratio
            return "-" if ratio is None else ("yes" if ratio >= self.minimum_ratio else "NO")
        if self.maximum_value is not None:
            if self.ours is None:
                return "-"
            return "yes" if self.ours <= self.maximum_value else "NO"
        return "-"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if unit in ("s", "ms") else f"{value:.2f}"
    return f"{text} {unit}"


def table(rows: list[Row]) -> str:
    head = ["benchmark", "ours", "reference", "ratio", "target", "reached"]
    lines = []
    for row in rows:
        ref = fmt_value(row.reference, row.unit) if row.reference is not None else "-"
        if row.ref_name:
            ref = f"{ref} ({row.ref_name})"
        ratio = row.ratio
        lines.append(
            [
                row.name,
                fmt_value(row.ours, row.unit),
                ref,
                "-" if ratio is None else f"{ratio:.2f}",
                row.target,
                row.reached,
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=False)]

    def render(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [render(head), rule, *(render(line) for line in lines)]
    notes = [f"  [{i + 1}] {row.name}: {row.note}" for i, row in enumerate(rows) if row.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- media files ----------------------------------------------------------------------------


def write_wav(path: Path, total_size: int, seed: int = 1) -> None:
    """A 16 kHz mono 16-bit WAV of exactly `total_size` bytes, written 1 MiB at a time."""
    payload = total_size - len(build_wav_header(PCM16_MONO_16K, 0))
    block = random_bytes(MIB, seed)
    with open(path, "wb") as out:
        out.write(build_wav_header(PCM16_MONO_16K, payload))
        left = payload
        while left:
            step = min(left, len(block))
            out.write(block[:step])
            left -= step


def random_bytes(size: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def wav_chunk(payload_bytes: int, seed: int) -> bytes:
    return build_wav_header(PCM16_MONO_16K, payload_bytes) + random_bytes(payload_bytes, seed)


# --- wrk ------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    bytes: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds

    def problems(self) -> str:
        bad = {k: v for k, v in self.errors.items() if v}
        return ", ".join(f"{k} errors {v}" for k, v in bad.items())


_LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %.0f, "bytes": %.0f, "duration_us": %.0f, "status": %.0f, ' ..
    '"connect": %.0f, "read": %.0f, "write": %.0f, "timeout": %.0f, ' ..
    '"p50_us": %.0f, "p99_us": %.0f}\n',
    summary.requests, summary.bytes, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def _lua(headers: Mapping[str, str], ranges: tuple[int, int] | None) -> str:
    lines = ['wrk.method = "GET"']
    for name, value in headers.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    if ranges is not None:
        size, length = ranges
        # Random offsets over the whole file; the same seed every run, so every server is asked
        # the same sequence of ranges.
        lines.append(
            f"""
math.randomseed(20240607)
local size, length = {size}, {length}
request = function()
  local offset = math.random(0, size - length)
  wrk.headers["Range"] = string.format("bytes=%d-%d", offset, offset + length - 1)
  return wrk.format()
end"""
        )
    return "\n".join(lines) + "\n" + _LUA_DONE


def wrk(
    url: str,
    workdir: Path,
    *,
    connections: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    ranges: tuple[int, int] | None = None,
    threads: int = 1,
) -> WrkResult:
    """One bounded wrk run; `ranges=(size, length)` asks for random `length`-byte ranges."""
    script = workdir / f"wrk-{time.monotonic_ns()}.lua"
    script.write_text(_lua(headers or {}, ranges))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON ") :])
            errors = {k: int(data[k]) for k in ("status", "connect", "read", "write", "timeout")}
            return WrkResult(
                int(data["requests"]),
                int(data["bytes"]),
                data["duration_us"] / 1e6,
                errors,
                data["p50_us"] / 1000,
                data["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk gave no result: {done.stdout[-2000:]} {done.stderr[-2000:]}")


# --- processes ------------------------------------------------------------------------------


def _wait_http(url: str, process: subprocess.Popen[bytes], deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, headers={"Range": "bytes=0-0"}).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer at {url}")


def _end(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@dataclass
class Nginx:
    """Debian nginx serving `directory` at /files/, in the foreground, ended by its pid."""

    workdir: Path
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        port = free_ports(1)[0]
        prefix = self.workdir / "nginx"
        prefix.mkdir(exist_ok=True)
        temps = "\n".join(
            f"  {name}_temp_path {prefix / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 1000000;
  default_type application/octet-stream;
{temps}
  server {{
    listen 127.0.0.1:{port};
    location /files/ {{ alias {self.directory}/; }}
  }}
}}
"""
        (prefix / "nginx.conf").write_text(conf)
        log_file = open(prefix / "stderr.log", "wb")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(
            [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", "nginx.conf"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=prefix,
        )
        log_file.close()
        self.url = f"http://127.0.0.1:{port}"
        _wait_http(self.url + "/files/", self.process, time.monotonic() + 15, "nginx")
        return self

    def stop(self) -> None:
        _end(self.process, signal.SIGTERM)
        self.process = None


@dataclass
class RefApp:
    """`hypercorn -w 0 tests.bench.refapp:app`: Starlette FileResponse and an in-memory body."""

    workdir: Path
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> RefApp:
        port = free_ports(1)[0]
        script = Path(sys.executable).parent / "hypercorn"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "hypercorn"]
        cmd += ["-w", "0", "-b", f"127.0.0.1:{port}", "--keep-alive", "75"]
        cmd += ["tests.bench.refapp:app"]
        log_file = open(self.workdir / "refapp.log", "wb")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(
            cmd,
            env={**os.environ, **self.env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        log_file.close()
        self.url = f"http://127.0.0.1:{port}"
        _wait_http(self.url + "/mem64k", self.process, time.monotonic() + 30, "reference app")
        return self

    def stop(self) -> None:
        _end(self.process, signal.SIGTERM)
        self.process = None


@contextlib.contextmanager
def running(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- memory ---------------------------------------------------------------------------------


def proc_status(pid: int, field_name: str) -> int:
    """A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for pid {pid}")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU of pid and its direct children (nginx's worker), from /proc."""
    total = 0.0
    for one in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, needs ptrace rights over pid)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


@dataclass
class RssSampler:
    """Samples VmRSS of pid every `interval` seconds in a thread; `peak_kib` is the maximum."""

    pid: int
    interval: float = 0.01
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.samples.append(proc_status(self.pid, "VmRSS"))
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(OSError, RuntimeError):
            self.samples.append(proc_status(self.pid, "VmRSS"))

    @property
    def peak_kib(self) -> int:
        return max(self.samples, default=0)


# --- the app --------------------------------------------------------------------------------


def app_env(**extra: str) -> dict[str, str]:
    return {
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "INTERNAL_API_SECRET": INTERNAL_SECRET,
        "LITE_RECONCILE_INTERVAL_SECONDS": "0",
        **extra,
    }


def start_app(env: Mapping[str, str], workdir: Path) -> AppServer:
    """`AppServer.start`, but a server that fails to start is ended, not left running."""
    server = AppServer(env, workdir)
    try:
        return server.start()
    except BaseException:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait(10)
        raise


def create_api_key(url: str, user_id: int = 1) -> str:
    answer = httpx.post(
        f"{url}/admin/users/{user_id}/api-keys",
        headers={"X-Admin-API-Key": ADMIN_TOKEN},
        timeout=30,
    )
    answer.raise_for_status()
    key: str = answer.json()["key"]
    return key


def ingest_headers(final: bool = False) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {INTERNAL_SECRET}", "Content-Type": "audio/wav"}
    if final:
        headers["X-Final"] = "true"
    return headers


def upload_single(url: str, session_uid: str, path: Path, user_id: int = 1) -> dict[str, Any]:
    """The whole file as chunk 0 with X-Final: finalize runs inline on this request."""
    with open(path, "rb") as body:
        answer = httpx.put(
            f"{url}/ingest/sessions/{session_uid}/audio/chunks/0?user_id={user_id}",
            content=body,
            headers=ingest_headers(final=True),
            timeout=httpx.Timeout(300),
        )
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    if result["status"] != "completed":
        raise RuntimeError(f"upload of {session_uid} did not complete: {result}")
    return result


def media_of(url: str, api_key: str, recording_id: int) -> dict[str, Any]:
    answer = httpx.get(
        f"{url}/recordings/{recording_id}", headers={"X-API-Key": api_key}, timeout=30
    )
    answer.raise_for_status()
    media: dict[str, Any] = answer.json()["media_files"][0]
    return media


def warm_file(path: Path) -> None:
    """Read a file once so the benchmarks measure page-cached reads."""
    with open(path, "rb") as f:
        while f.read(8 * MIB):
            pass
