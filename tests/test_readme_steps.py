"""The README's first steps, exactly: `make run`, then `.venv/bin/vexa-lite keys create --user 3`
in the same directory, and the printed key works against the running server."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, free_ports

_RUNNING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")


def checkout(tmp_path: Path) -> Path:
    """A directory that looks like a fresh checkout to make (the Makefile, pyproject.toml,
    requirements.lock and the already installed .venv), so `make run` writes its .env and data
    there, not in the repo."""
    for name in ("Makefile", "pyproject.toml", "requirements.lock", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


@contextlib.contextmanager
def make_run(directory: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = directory / "make-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=directory,
            env={**os.environ, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and the server it starts end together
        )
    try:
        yield process, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def wait_running(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _RUNNING.search(log.read_text(errors="replace"))
        if found:
            return f"http://127.0.0.1:{found.group(1)}"
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(log.read_text())


@pytest.mark.timeout(120)
def test_a_key_made_by_the_cli_after_make_run_works_on_the_running_server(
    tmp_path: Path,
) -> None:
    directory = checkout(tmp_path)
    [port] = free_ports(1)
    with make_run(directory, port) as (process, log):
        url = wait_running(process, log)
        env_file = (directory / ".env").read_text()
        assert f"LOCAL_STORAGE_DIR={directory}/data/recordings" in env_file
        made = subprocess.run(
            [".venv/bin/vexa-lite", "keys", "create", "--user", "3"],
            cwd=directory,
            env={k: v for k, v in os.environ.items() if k != "PORT"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        answer = httpx.get(f"{url}/recordings", headers={"X-API-Key": key}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["recordings"] == []
        demo = re.search(r"Demo API key for user 1 \(shown once\): (\S+)", log.read_text())
        assert demo, log.read_text()
        assert httpx.get(f"{url}/recordings", headers={"X-API-Key": "vxl_wrong"}).status_code == 401
    assert (directory / "data" / "recordings").is_dir()
