"""Debian nginx running the shipped example config (deploy/nginx/vexa-lite.conf) in front of app
replicas on loopback: the example's upstream servers and listen line are replaced, nothing else.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import ROOT, free_ports

EXAMPLE = ROOT / "deploy" / "nginx" / "vexa-lite.conf"
_UPSTREAM_SERVER = re.compile(r"^(\s*)server 127\.0\.0\.1:8056( [^;]*)?;$", re.MULTILINE)
_LISTEN = re.compile(r"^(\s*)listen 80;$", re.MULTILINE)


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise RuntimeError("nginx not found: run `make system-deps` (Debian nginx-light)")
    return found


def site_config(upstreams: Sequence[str], port: int) -> str:
    """The example with our replicas (host:port) and a loopback listen port."""
    text = EXAMPLE.read_text()
    match = _UPSTREAM_SERVER.search(text)
    assert match and _LISTEN.search(text), "example config changed shape: update tests/nginxkit.py"
    indent, options = match.group(1), match.group(2) or ""
    servers = "\n".join(f"{indent}server {u}{options};" for u in upstreams)
    text = _UPSTREAM_SERVER.sub(lambda _: servers, text, count=1)
    return _LISTEN.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{port};", text, count=1)


@dataclass
class NginxProxy:
    """nginx in the foreground with its own prefix, pid and logs; ended by its pid."""

    workdir: Path
    upstreams: Sequence[str]
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self) -> Path:
        prefix = self.workdir / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        temp = prefix / "temp"
        temp.mkdir(exist_ok=True)
        (prefix / "site.conf").write_text(site_config(self.upstreams, self.port))
        (prefix / "nginx.conf").write_text(
            f"""daemon off;
worker_processes {self.workers};
pid {prefix / "nginx.pid"};
error_log {prefix / "logs" / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix / "logs" / "access.log"};
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {prefix / "site.conf"};
}}
"""
        )
        return prefix

    def start(self) -> NginxProxy:
        self.port = self.port or free_ports(1)[0]
        prefix = self._write()
        args = [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "logs" / "error.log")]
        self.process = subprocess.Popen(
            [*args, "-c", str(prefix / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url + "/healthz", timeout=2)
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not answer: {self.error_log()}")

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "nginx" / "logs" / "error.log").read_text()[-3000:]
        return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
