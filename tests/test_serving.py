"""One way to run the server: the CLI and the image's `hypercorn` command read the same
config/hypercorn.toml, `lite.asgi` is an app factory, start-up failures are one line each, and
the Hypercorn patch is dropped as soon as upstream fixes the bug it works around."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ROOT, SeaweedServer, _stop, drop_bucket, free_ports, make_bucket
from tests.stores import s3_env

CONFIG = ROOT / "config" / "hypercorn.toml"


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_importing_the_asgi_module_reads_no_settings(tmp_path: Path) -> None:
    done = run(
        [sys.executable, "-c", "import lite.asgi"], {"LOCAL_STORAGE_FSYNC": "sometimes"}, tmp_path
    )
    assert done.returncode == 0, done.stderr


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(log.read_text())


def test_the_image_command_serves_with_the_shared_config_and_logs_json(tmp_path: Path) -> None:
    """What supervisord.conf runs, with the same file `vexa-lite serve` loads."""
    [port] = free_ports(1)
    log = tmp_path / "hypercorn.log"
    env = {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path / "rec")}
    hypercorn = str(Path(sys.executable).parent / "hypercorn")
    args = [hypercorn, "--config", str(CONFIG), "--bind", f"127.0.0.1:{port}", "-w", "0"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*args, "lite.asgi:create()"],
            env={**os.environ, **env},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
    finally:
        _stop(process, 20)

    lines = log.read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    running = [e for e in events if e.startswith("Running on")]
    assert running == [f"Running on http://127.0.0.1:{port} (CTRL + C to quit)"], lines


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(
            [sys.executable, "-m", "lite", "serve", "--port", str(port)],
            {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path)},
            tmp_path,
        )
    assert done.returncode == 1
    assert done.stderr == f"error: cannot listen on 127.0.0.1:{port}: the port is already in use\n"


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("/proc/nope", "LOCAL_STORAGE_DIR=/proc/nope cannot be created: No such file or directory"),
        ("/sys", "LOCAL_STORAGE_DIR=/sys is not writable: Permission denied"),
        ("{file}", "LOCAL_STORAGE_DIR={file} is not a directory"),
    ],
    ids=["missing", "unwritable", "a-file"],
)
def test_serve_with_unusable_local_storage_says_so_in_one_line(
    tmp_path: Path, directory: str, expected: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    directory = directory.format(file=afile)
    done = run(
        [sys.executable, "-m", "lite", "serve", "--port", "0"],
        {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": directory},
        tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr == f"error: {expected.format(file=afile)}\n"


# A server of a trivial app, with or without lite.hypercorn_fix, on the given port.
_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from lite import hypercorn_fix

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    if sys.argv[2] == "patched":
        hypercorn_fix.install()
    config = Config.from_toml(sys.argv[3])
    config.bind = [f"127.0.0.1:{sys.argv[1]}"]
    config.workers = 1
    asyncio.run(serve(app, config))
    """
)


def closes_a_half_closed_idle_connection(mode: str, tmp_path: Path) -> bool:
    """One keep-alive request, then the client half-closes: does the server close its side?"""
    [port] = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(port), mode, str(CONFIG)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"0\r\n\r\n"):  # the whole response: the stream is done
                answer += sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200")
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(2)
            try:
                return sock.recv(4096) == b""
            except TimeoutError:
                return False
    finally:
        _stop(process, 10)


def test_the_hypercorn_patch_closes_connections_the_client_closed(tmp_path: Path) -> None:
    assert closes_a_half_closed_idle_connection("patched", tmp_path)


def test_upstream_hypercorn_still_has_the_bug_the_patch_works_around(tmp_path: Path) -> None:
    """When this fails, the installed Hypercorn closes such connections itself: delete
    lite/hypercorn_fix.py and widen the hypercorn pin in pyproject.toml."""
    assert not closes_a_half_closed_idle_connection("unpatched", tmp_path)


def test_serve_with_a_missing_bucket_or_bad_credentials_says_so_in_one_line(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    at = f"at {seaweed.endpoint}"
    missing = run(
        [sys.executable, "-m", "lite", "serve", "--port", "0"],
        s3_env(seaweed.endpoint, "no-such-bucket-for-lite"),
        tmp_path,
    )
    assert missing.returncode == 1
    assert missing.stderr == (
        f"error: storage (s3, bucket 'no-such-bucket-for-lite' {at}): "
        "the bucket 'no-such-bucket-for-lite' does not exist\n"
    )
    bucket = make_bucket(seaweed.endpoint)
    try:
        refused = run(
            [sys.executable, "-m", "lite", "serve", "--port", "0"],
            s3_env(seaweed.endpoint, bucket, AWS_SECRET_ACCESS_KEY="wrong-secret"),
            tmp_path,
        )
    finally:
        drop_bucket(seaweed.endpoint, bucket)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: storage (s3, bucket '{bucket}' {at}): "
        "object storage refused the credentials (403 Forbidden)\n"
    )
    assert "wrong-secret" not in refused.stderr


# --- deadlines by request phase and the connection cap (lite/serving.py) -------------------------

# A server of an app that answers /slow after 1.5 s (unless the client goes away first) and anything
# else once the body is read; argv:
# port, "patched" or not, Hypercorn TOML, soft descriptor limit.
_TIMED = textwrap.dedent(
    """
    import asyncio, resource, sys
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from lite import hypercorn_fix

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        if scope["path"] == "/slow":  # 1.5 s of work, dropped if the client goes away
            try:
                await asyncio.wait_for(receive(), 1.5)  # http.disconnect
                return
            except TimeoutError:
                pass
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[4]), hard))
    if sys.argv[2] == "patched":
        hypercorn_fix.install()
    config = Config.from_toml(sys.argv[3])
    config.bind = [f"127.0.0.1:{sys.argv[1]}"]
    config.workers = 1
    asyncio.run(serve(app, config))
    """
)
# Deadlines of 1 s, and a cap of (64 - 32) // 2 = 16 connections at nofile=64.
_TIMED_CONFIG = """
lite_header_timeout = 1
lite_body_idle_timeout = 1
lite_fd_reserve = 32
"""


@pytest.fixture
def timed_server(tmp_path: Path) -> Iterator[Callable[..., int]]:
    """Start the timed app (patched unless told otherwise) and return its port."""
    config = tmp_path / "hypercorn.toml"
    processes: list[subprocess.Popen[bytes]] = []

    def start(mode: str = "patched", extra: str = "") -> int:
        config.write_text(_TIMED_CONFIG + extra)
        [port] = free_ports(1)
        args = [sys.executable, "-c", _TIMED, str(port), mode, str(config), "64"]
        with open(tmp_path / f"server-{len(processes)}.log", "wb") as log:
            processes.append(subprocess.Popen(args, cwd=ROOT, stderr=log))
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                assert time.monotonic() < deadline and processes[-1].poll() is None
                time.sleep(0.05)

    yield start
    for process in processes:
        _stop(process, 10)
    for log in tmp_path.glob("server-*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def trickle(sock: socket.socket, data: bytes, pause: float, seconds: float) -> bytes | None:
    """Send data a byte per pause for up to `seconds`. What the server sent back (b"": it
    closed), or None if it sent nothing."""
    end = time.monotonic() + seconds
    for byte in data:
        if time.monotonic() > end:
            return None
        try:
            sock.sendall(bytes([byte]))
            sock.settimeout(pause)
            return sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return b""
    return None


def answer(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    got = b""
    while not got.endswith(b"ok"):
        more = sock.recv(4096)
        if not more:
            break
        got += more
    return got


SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100


def test_a_request_head_must_arrive_within_the_header_deadline(timed_server: Any) -> None:
    port = timed_server()
    with connect(port) as sock:
        began = time.monotonic()
        assert trickle(sock, SLOW_HEAD, 0.2, 5) == b""
        assert 0.8 < time.monotonic() - began < 3
    with connect(port) as sock:  # a head that arrives in time is answered
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)
        sock.sendall(b"\r\n")
        assert answer(sock).startswith(b"HTTP/1.1 200")


def test_upstream_hypercorn_still_has_no_header_deadline(timed_server: Any) -> None:
    """When this fails, the installed Hypercorn bounds slow request heads itself: see whether
    lite/serving.py is still needed."""
    port = timed_server("unpatched")
    with connect(port) as sock:
        assert trickle(sock, SLOW_HEAD, 0.2, 2.5) is None


def test_a_body_may_trickle_but_not_stall(timed_server: Any) -> None:
    port = timed_server()
    head = b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n"
    with connect(port) as sock:  # a byte every 0.5 s: 3.5 s in all, never 1 s idle
        sock.sendall(head)
        assert trickle(sock, b"1234567", 0.5, 10) is None
        sock.sendall(b"8")
        assert answer(sock).startswith(b"HTTP/1.1 200")
    with connect(port) as sock:
        sock.sendall(head + b"1")
        began = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(4096) == b""
        assert 0.8 < time.monotonic() - began < 3


def test_no_deadline_while_the_app_answers_a_complete_request(timed_server: Any) -> None:
    """The app takes 1.5 s, longer than either deadline; Hypercorn's read_timeout (the setting
    config/hypercorn.toml no longer uses) would drop the waiting client."""
    port = timed_server()
    with connect(port) as sock:
        sock.sendall(b"PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        assert answer(sock).startswith(b"HTTP/1.1 200")
    upstream = timed_server("unpatched", "read_timeout = 1\n")
    with connect(upstream) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(sock) == b""


def test_at_the_cap_the_slowest_heads_make_room_then_newcomers_get_503(timed_server: Any) -> None:
    port = timed_server()
    slow = [connect(port) for _ in range(16)]
    try:
        for sock in slow:
            sock.sendall(b"G")
        time.sleep(0.5)
        with connect(port) as sock:  # the cap is full of slow heads: the oldest makes room
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer(sock).startswith(b"HTTP/1.1 200")
        slow[0].settimeout(2)
        assert slow[0].recv(4096) == b""
        busy = [connect(port) for _ in range(16)]  # each waits for its answer: none may go
        for sock in busy:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        with connect(port) as sock:
            sock.settimeout(2)
            assert sock.recv(4096).startswith(b"HTTP/1.1 503")
        assert all(answer(sock).startswith(b"HTTP/1.1 200") for sock in busy)
    finally:
        for sock in slow + locals().get("busy", []):
            sock.close()


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(timed_server: Any) -> None:
    port = timed_server(extra="keep_alive_timeout = 1\n")
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(sock).startswith(b"HTTP/1.1 200")
        began = time.monotonic()
        assert sock.recv(4096) == b""
        assert time.monotonic() - began < 3
