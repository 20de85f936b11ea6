"""SeaweedFS as a real multi-process cluster on loopback: one master, two volume servers, a filer
and the S3 gateway, each its own `weed` process on free ports in a throwaway directory, ended by
pid. Then three app replicas on fixed ports (so a restart keeps its place in nginx's upstream list)
and the shipped nginx example round-robin in front.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.ingestkit import ADMIN, SECRET
from tests.nginxkit import NginxProxy
from tests.servers import S3_USER, AppServer, can_write, free_ports, make_bucket, weed_binary

LOOPBACK = ["-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
# Short enough for a test to see the reconciler act, longer than any gap between two chunks of
# a live session during the load: with other suites on this 2-core machine single acks took up
# to 10-40 s, and a session that looks idle is finalized early (and again by its final chunk).
IDLE_SECONDS = 30
# Every replica scans all open sessions each turn (a few S3 calls per session): not too often.
RECONCILE_SECONDS = 5


@dataclass
class WeedCluster:
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    endpoint: str = ""

    def _spawn(self, name: str, args: list[str]) -> None:
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [weed_binary(), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                start_new_session=True,
            )

    def start(self) -> WeedCluster:
        master, master_grpc, filer, filer_grpc, s3, s3_grpc, *rest = free_ports(12)
        master_at = f"127.0.0.1:{master}.{master_grpc}"
        self._spawn(
            "master",
            ["master", *LOOPBACK, f"-port={master}", f"-port.grpc={master_grpc}",
             f"-mdir={self.workdir / 'master'}", "-volumeSizeLimitMB=64",
             "-defaultReplication=000"],
        )  # fmt: skip
        for i in range(2):
            port, grpc = rest[2 * i], rest[2 * i + 1]
            self._spawn(
                f"volume{i}",
                ["volume", *LOOPBACK, f"-port={port}", f"-port.grpc={grpc}",
                 f"-dir={self.workdir / f'volume{i}'}", f"-mserver={master_at}", "-max=50",
                 "-minFreeSpace=1"],
            )  # fmt: skip
        self._spawn(
            "filer",
            ["filer", *LOOPBACK, f"-port={filer}", f"-port.grpc={filer_grpc}",
             f"-master={master_at}", f"-defaultStoreDir={self.workdir / 'filer'}", "-iam=false"],
        )  # fmt: skip
        config = self.workdir / "s3.json"
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        identity = {"name": "test", "credentials": [S3_USER], "actions": actions}
        config.write_text(json.dumps({"identities": [identity]}))
        iceberg, lance = rest[4], rest[5]
        self._spawn(
            "s3",
            ["s3", *LOOPBACK, f"-port={s3}", f"-port.grpc={s3_grpc}",
             f"-port.iceberg={iceberg}", f"-port.lance={lance}",
             f"-filer=127.0.0.1:{filer}.{filer_grpc}", f"-config={config}"],
        )  # fmt: skip
        self.endpoint = f"http://127.0.0.1:{s3}"
        self._wait_writable(time.monotonic() + 90)
        return self

    def _wait_writable(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"weed {dead} exited: {self.logs()}")
            if can_write(self.endpoint):
                return
            time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS cluster did not become writable: {self.logs()}")

    def logs(self) -> str:
        tails = []
        for name in self.processes:
            with contextlib.suppress(OSError):
                text = (self.workdir / f"{name}.log").read_text(errors="replace")
                tails.append(f"--- {name}\n{text[-1500:]}")
        return "\n".join(tails)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # test data is thrown away
            process.wait(10)
        self.processes.clear()


@dataclass
class Stack:
    """The cluster, a bucket, three replicas and nginx in front."""

    workdir: Path
    cluster: WeedCluster
    bucket: str
    replicas: list[AppServer]
    proxy: NginxProxy

    @property
    def url(self) -> str:
        return self.proxy.url

    def logs(self) -> str:
        """Every replica log written so far, also of processes killed or restarted."""
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("app-*.log"))
        )


def replica_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT": endpoint,
        "S3_BUCKET": bucket,
        "S3_SECURE": "false",
        "AWS_ACCESS_KEY_ID": S3_USER["accessKey"],
        "AWS_SECRET_ACCESS_KEY": S3_USER["secretKey"],
        "AWS_REGION": "us-east-1",
        "INTERNAL_API_SECRET": SECRET,
        "ADMIN_API_TOKEN": ADMIN,
        "LITE_TRUSTED_PROXIES": "127.0.0.1",
        "LITE_SESSION_IDLE_SECONDS": str(IDLE_SECONDS),
        "LITE_RECONCILE_INTERVAL_SECONDS": str(RECONCILE_SECONDS),
        "LITE_LOG_LEVEL": "info",
    }


@contextlib.contextmanager
def stack(workdir: Path, replicas: int = 3) -> Iterator[Stack]:
    cluster = WeedCluster(workdir / "weed")
    started: list[AppServer] = []
    proxy: NginxProxy | None = None
    try:
        cluster.start()
        bucket = make_bucket(cluster.endpoint)
        env = replica_env(cluster.endpoint, bucket)
        for port in free_ports(replicas):
            started.append(AppServer(env, workdir, port=port).start(timeout=60))
        proxy = NginxProxy(workdir, [f"127.0.0.1:{a.port}" for a in started]).start()
        yield Stack(workdir, cluster, bucket, started, proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        for app in started:
            app.stop(grace=10)
        cluster.stop()
