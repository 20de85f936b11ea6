"""entrypoint.sh without a container: backend announcement, volume check, refusals, exec.

The script runs for real with the project's Python; a fake `supervisord` first on PATH prints its
pid and arguments instead of serving. Mount tables are mountinfo files captured from podman
containers of the image (tests/fixtures/mountinfo/).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stores import new_store

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.sh"
MOUNTINFO = ROOT / "tests" / "fixtures" / "mountinfo"
NO_VOLUME = MOUNTINFO / "podman-no-volume.txt"
CONF = "/etc/vexa-lite/supervisord.conf"
FAKE_SUPERVISORD = '#!/bin/sh\necho "supervisord pid=$$ PORT=$PORT LITE_HOST=$LITE_HOST args=$*"\n'


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    pid: int

    @property
    def supervised(self) -> bool:
        return "supervisord pid=" in self.stdout


def run_entrypoint(tmp_path: Path, env: dict[str, str], mountinfo: Path = NO_VOLUME) -> Run:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "supervisord"
    fake.write_text(FAKE_SUPERVISORD)
    fake.chmod(0o755)
    base = {
        "PATH": f"{bindir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LITE_MOUNTINFO": str(mountinfo),
        "LOCAL_STORAGE_DIR": str(tmp_path / "recordings"),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with subprocess.Popen(
        [str(ENTRYPOINT)],
        env={**base, **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        out, err = proc.communicate(timeout=120)
    return Run(proc.returncode, out, err, proc.pid)


def source_and_call(*words: str, env: dict[str, str] | None = None) -> str:
    """Call one function of entrypoint.sh (sourcing it only defines them)."""
    script = f'source "{ENTRYPOINT}"; "$@"'
    done = subprocess.run(
        ["bash", "-c", script, "entrypoint", *words],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=True,
    )
    return done.stdout + done.stderr


def with_mount(tmp_path: Path, point: Path, fstype: str = "ext4") -> Path:
    """The no-volume table plus one mount at `point`, as a bind or named volume appears."""
    line = f"98 77 254:0 /volumes/x/_data {point} rw,relatime - {fstype} /dev/vda rw\n"
    table = tmp_path / "mountinfo"
    table.write_text(NO_VOLUME.read_text() + line)
    return table


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> Iterator[tuple[str, str]]:
    with new_store("moto", endpoint=moto_endpoint) as store:
        yield store.endpoint, store.bucket


def aws(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "S3_ENDPOINT": endpoint,
        "S3_SECURE": "false",
        **extra,
    }


def minio(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "MINIO_ACCESS_KEY": "testing",
        "MINIO_SECRET_KEY": "testing",
        "MINIO_ENDPOINT": endpoint.removeprefix("http://"),
        "MINIO_SECURE": "false",
        **extra,
    }


# --- the backend is announced as Python resolves it, then the service starts ---


def test_no_credentials_choose_local(tmp_path: Path) -> None:
    run = run_entrypoint(tmp_path, {})
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "storage: local (no object-storage credentials set)"
    assert run.supervised
    assert (tmp_path / "recordings").is_dir()


def test_aws_credentials_and_bucket_choose_s3(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    run = run_entrypoint(tmp_path, aws(endpoint, S3_BUCKET=bucket))
    assert run.code == 0, run.stderr
    assert re.fullmatch(
        r"storage: s3 \(.*AWS credentials.*S3_BUCKET.*\)", run.stdout.splitlines()[0]
    )
    assert "WARNING" not in run.stderr  # the volume check is for local only
    assert not (tmp_path / "recordings").exists()
    assert run.supervised


def test_minio_keys_choose_minio(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    run = run_entrypoint(tmp_path, minio(endpoint, MINIO_BUCKET=bucket))
    assert run.code == 0, run.stderr
    assert re.fullmatch(r"storage: minio \(.*MINIO_ACCESS_KEY.*\)", run.stdout.splitlines()[0])
    assert run.supervised


def test_s3_wins_over_minio_when_both_are_set(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    env = {**minio(endpoint, MINIO_BUCKET=bucket), **aws(endpoint, S3_BUCKET=bucket)}
    run = run_entrypoint(tmp_path, env)
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith("storage: s3 (")


def test_explicit_backend_wins(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    env = {**aws(endpoint, S3_BUCKET=bucket), **minio(endpoint, MINIO_BUCKET=bucket)}
    run = run_entrypoint(tmp_path, {**env, "STORAGE_BACKEND": "minio"})
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "storage: minio (STORAGE_BACKEND=minio)"


def test_explicit_local_with_s3_credentials_warns(
    tmp_path: Path, s3_bucket: tuple[str, str]
) -> None:
    endpoint, bucket = s3_bucket
    run = run_entrypoint(tmp_path, {**aws(endpoint, S3_BUCKET=bucket), "STORAGE_BACKEND": "local"})
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "storage: local (STORAGE_BACKEND=local)"
    assert re.search(r"STORAGE_BACKEND=local while S3 credentials.*are set", run.stderr)
    assert run.supervised


def test_other_aws_credential_source_counts(tmp_path: Path) -> None:
    env = {"AWS_PROFILE": "prod", "S3_BUCKET": "b", "S3_ENDPOINT": "http://127.0.0.1:9"}
    run = run_entrypoint(tmp_path, env)
    assert run.stdout.splitlines()[0].startswith("storage: s3 (")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": ""}, ["S3_BUCKET"]),
        ({"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, ["S3_BUCKET"]),
        ({"STORAGE_BACKEND": "minio"}, ["MINIO_ACCESS_KEY"]),
        ({"STORAGE_BACKEND": "nfs"}, ["STORAGE_BACKEND", "'nfs'", "local, minio, s3"]),
        ({"PORT": "eighty"}, ["PORT", "'eighty'"]),
        ({"LITE_REQUIRE_VOLUME": "maybe"}, ["LITE_REQUIRE_VOLUME", "'maybe'", "true"]),
    ],
    ids=[
        "s3-empty-bucket",
        "aws-no-bucket",
        "minio-no-keys",
        "bad-backend",
        "bad-port",
        "bad-bool",
    ],
)
def test_bad_setting_stops_with_one_line(
    tmp_path: Path, env: dict[str, str], names: list[str]
) -> None:
    run = run_entrypoint(tmp_path, {"S3_ENDPOINT": "http://127.0.0.1:9", **env})
    assert run.code != 0
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    for name in names:
        assert name in lines[0]
    assert not (tmp_path / "recordings").exists()


# --- the local directory and the volume check ---


@pytest.mark.parametrize(
    ("table", "directory", "expected"),
    [
        ("podman-no-volume.txt", "/var/lib/vexa/recordings", "/ overlay"),
        ("podman-named-volume.txt", "/var/lib/vexa/recordings", "/var/lib/vexa/recordings ext4"),
        ("podman-named-volume.txt", "/var/lib/vexa/recordings/x", "/var/lib/vexa/recordings ext4"),
        ("podman-named-volume.txt", "/var/lib/vexa", "/ overlay"),
        ("podman-bind-parent.txt", "/var/lib/vexa/recordings", "/var/lib/vexa ext4"),
        ("podman-sibling-prefix.txt", "/var/lib/vexa/recordings", "/ overlay"),
        ("podman-tmpfs.txt", "/var/lib/vexa/recordings", "/var/lib/vexa/recordings tmpfs"),
        ("podman-volume-with-space.txt", "/srv/vexa recordings", "/srv/vexa recordings ext4"),
    ],
)
def test_mount_of_finds_the_longest_prefix_mount(table: str, directory: str, expected: str) -> None:
    assert source_and_call("mount_of", directory, str(MOUNTINFO / table)) == expected + "\n"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("podman-no-volume.txt", "it is on the container's own writable layer"),
        ("podman-sibling-prefix.txt", "it is on the container's own writable layer"),
        ("podman-tmpfs.txt", "it is on tmpfs (memory) mounted at /var/lib/vexa/recordings"),
        ("podman-named-volume.txt", ""),
        ("podman-bind-parent.txt", ""),
        ("missing.txt", "cannot be read"),
    ],
)
def test_volume_problem(table: str, problem: str) -> None:
    said = source_and_call("volume_problem", "/var/lib/vexa/recordings", str(MOUNTINFO / table))
    assert (problem in said) if problem else said == ""


def test_warning_prints_the_exact_fix() -> None:
    said = source_and_call("warn_no_volume", "/var/lib/vexa/recordings", "it is on the layer")
    assert "-v vexa-recordings:/var/lib/vexa/recordings\n" in said
    assert "LOST when this container is removed or replaced" in said
    assert len(said.splitlines()) > 5  # loud: a block, not a line


def test_not_mounted_warns_and_starts(tmp_path: Path) -> None:
    run = run_entrypoint(tmp_path, {})
    assert run.code == 0, run.stderr
    assert "is NOT on a mounted volume" in run.stderr
    assert f"-v vexa-recordings:{tmp_path / 'recordings'}" in run.stderr
    assert run.supervised


def test_mounted_does_not_warn(tmp_path: Path) -> None:
    table = with_mount(tmp_path, tmp_path / "recordings")
    run = run_entrypoint(tmp_path, {"LITE_REQUIRE_VOLUME": "true"}, mountinfo=table)
    assert run.code == 0, run.stderr
    assert "WARNING" not in run.stderr
    assert f"volume: {tmp_path / 'recordings'} is on a mounted volume" in run.stdout
    assert run.supervised


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_require_volume_refuses_without_one(tmp_path: Path, value: str) -> None:
    run = run_entrypoint(tmp_path, {"LITE_REQUIRE_VOLUME": value})
    assert run.code != 0
    assert not run.supervised
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "LITE_REQUIRE_VOLUME=true" in lines[0]
    assert f"-v vexa-recordings:{tmp_path / 'recordings'}" in lines[0]
    assert not (tmp_path / "recordings").exists()


def test_require_volume_refuses_on_tmpfs(tmp_path: Path) -> None:
    table = with_mount(tmp_path, tmp_path / "recordings", fstype="tmpfs")
    run = run_entrypoint(tmp_path, {"LITE_REQUIRE_VOLUME": "true"}, mountinfo=table)
    assert run.code != 0
    assert "tmpfs" in run.stderr


def test_unreadable_mount_table_warns(tmp_path: Path) -> None:
    run = run_entrypoint(tmp_path, {}, mountinfo=tmp_path / "absent")
    assert run.code == 0
    assert "cannot be read" in run.stderr
    refused = run_entrypoint(tmp_path, {"LITE_REQUIRE_VOLUME": "true"}, mountinfo=tmp_path / "no")
    assert refused.code != 0


def test_directory_that_cannot_be_created_stops(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    run = run_entrypoint(tmp_path, {"LOCAL_STORAGE_DIR": str(tmp_path / "file" / "recordings")})
    assert run.code != 0
    assert not run.supervised
    assert "cannot create LOCAL_STORAGE_DIR" in run.stderr


# --- the storage check and the hand-over to supervisord ---


def test_failed_check_stops_before_supervisord(tmp_path: Path, moto_endpoint: str) -> None:
    run = run_entrypoint(tmp_path, aws(moto_endpoint, S3_BUCKET="no-such-bucket-here"))
    assert run.code != 0
    assert not run.supervised
    assert "no-such-bucket-here" in run.stderr


def test_supervisord_replaces_the_entrypoint(tmp_path: Path) -> None:
    run = run_entrypoint(tmp_path, {})
    # exec: supervisord becomes the entrypoint's process (PID 1 in the container) and gets SIGTERM.
    expected = f"supervisord pid={run.pid} PORT=8056 LITE_HOST=0.0.0.0 args=-c {CONF}"
    assert run.stdout.splitlines()[-1] == expected


def test_port_and_host_pass_through(tmp_path: Path) -> None:
    run = run_entrypoint(tmp_path, {"PORT": "9123", "LITE_HOST": "127.0.0.1"})
    assert "PORT=9123 LITE_HOST=127.0.0.1" in run.stdout.splitlines()[-1]


def test_entrypoint_is_executable() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
