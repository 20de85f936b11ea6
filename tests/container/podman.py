"""Run the image with podman the way that works on this machine (no Docker engine)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import free_ports

ROOT = Path(__file__).resolve().parent.parent.parent
PODMAN = ("podman", "--cgroup-manager=cgroupfs", "--runtime", "runc")
# Host network (no container networking here), explicit ulimits (podman's defaults cannot be
# applied here), and no healthcheck timer (it needs systemd): tests run `podman healthcheck run`.
RUN_FLAGS = (
    "--network=host",
    "--ulimit=nofile=1024:1024",
    "--ulimit=nproc=1024:1024",
    "--health-interval=disable",
)
IMAGE = os.environ.get("LITE_IMAGE", "localhost/vexa-lite:latest")
RECORDINGS = "/var/lib/vexa/recordings"
ADMIN_TOKEN = "test-admin-token"
INTERNAL_SECRET = "test-internal-secret"
SERVICE_UID = 10001


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Container:
    name: str
    port: int
    started: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        done = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return done.stdout.strip() == "true"

    def exit_code(self) -> int:
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout)

    def wait_healthy(self, timeout: float = 60) -> float:
        """Seconds from `podman run` until /healthz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy after {timeout} s:\n{self.logs()}")

    def python(self, code: str) -> str:
        return podman("exec", self.name, "python", "-c", code).stdout

    def processes(self) -> list[tuple[int, int, str]]:
        """(pid, real uid, command line) of every process in the container, read from /proc."""
        code = (
            "import json, os\n"
            "out = []\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n"
            "        status = open(f'/proc/{pid}/status').read()\n"
            "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ')\n"
            "    except OSError:\n"
            "        continue\n"
            "    uid = [l for l in status.splitlines() if l.startswith('Uid:')][0].split()[1]\n"
            "    out.append((int(pid), int(uid), cmd.decode().strip()))\n"
            "print(json.dumps(out))\n"
        )
        return [(int(p[0]), int(p[1]), str(p[2])) for p in json.loads(self.python(code))]

    def pid_of(self, needle: str) -> int:
        pids = [
            pid for pid, _, cmd in self.processes() if needle in cmd and "import json" not in cmd
        ]
        assert len(pids) == 1, f"{needle}: {self.processes()}"
        return pids[0]


@dataclass
class Pod:
    """Containers and volumes of one test, named uniquely, all removed by `cleanup`."""

    image: str
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def volume(self) -> str:
        name = unique("vexa-lite-test-rec")
        self.volumes.append(name)
        return name

    def _run_args(self, name: str, port: int, env: dict[str, str], volume: str | None) -> list[str]:
        args = ["run", "--name", name, *RUN_FLAGS, "-e", f"PORT={port}"]
        base = {"ADMIN_API_TOKEN": ADMIN_TOKEN, "INTERNAL_API_SECRET": INTERNAL_SECRET}
        for key, value in {**base, **env}.items():
            args += ["-e", f"{key}={value}"]
        if volume:
            args += ["-v", f"{volume}:{RECORDINGS}"]
        return args

    def start(
        self, env: dict[str, str] | None = None, volume: str | None = None, *extra: str
    ) -> Container:
        """`podman run -d` on a free port; `extra` are more podman run flags."""
        name = unique("vexa-lite-test")
        port = free_ports(1)[0]
        self.containers.append(name)
        started = time.monotonic()
        podman(*self._run_args(name, port, env or {}, volume), "-d", *extra, self.image)
        return Container(name, port, started)

    def run_to_exit(self, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
        """Run a container that is expected to stop by itself: (exit code, its log)."""
        container = self.start(env)
        code = podman("wait", container.name, timeout=timeout).stdout.strip()
        return int(code), container.logs()

    def remove(self, container: Container) -> None:
        podman("rm", "--force", "--time", "0", container.name)

    def files(self, volume: str) -> list[str]:
        """Every file in a volume, listed by a throwaway container of the image."""
        done = podman(
            "run", "--rm", *RUN_FLAGS, "-v", f"{volume}:/data", "--entrypoint", "find",
            self.image, "/data", "-type", "f",
        )  # fmt: skip
        return sorted(line.removeprefix("/data/") for line in done.stdout.splitlines())

    def cleanup(self) -> None:
        for name in self.containers:
            podman("rm", "--force", "--time", "0", name, check=False)
        for name in self.volumes:
            podman("volume", "rm", "--force", name, check=False)
