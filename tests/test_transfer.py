"""`vexa-lite upload` and `download` against a running server, download resumed with Range."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.ingestkit import ADMIN, app_env
from tests.mediafiles import make_wav
from tests.servers import app_server
from tests.stores import local_env


def cli(cwd: Path, url: str, key: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "lite", *args, "--url", url, "--json"],
        env={**os.environ, "LITE_API_KEY": key},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_upload_then_download_and_resume(tmp_path: Path) -> None:
    env = app_env(local_env(tmp_path / "rec"))
    original = tmp_path / "meeting.wav"
    original.write_bytes(make_wav(3.0, 16000, 1, seed=5))
    with app_server(env, tmp_path) as server, httpx.Client(base_url=server.url) as http:
        admin = {"X-Admin-API-Key": ADMIN}
        key = http.post("/admin/users/51/api-keys", headers=admin).json()["key"]
        uploaded = cli(tmp_path, server.url, key, "upload", str(original), "--meeting-id", "77")
        assert uploaded["status"] == "completed"
        recording = http.get(f"/recordings/{uploaded['recording_id']}", headers={"X-API-Key": key})
        assert recording.json()["meeting_id"] == 77  # an integer, as Vexa reads it
        media = recording.json()["media_files"][0]
        served = http.get(
            f"/recordings/{uploaded['recording_id']}/media/{media['id']}/raw",
            headers={"X-API-Key": key},
        ).content

        whole = cli(tmp_path, server.url, key, "download", str(uploaded["recording_id"]))
        assert Path(tmp_path / whole["file"]).read_bytes() == served
        assert whole["resumed_from"] == 0

        target = tmp_path / "again.wav"
        part = tmp_path / "again.wav.part"
        part.write_bytes(served[: len(served) // 2])  # an interrupted earlier run
        resumed = cli(
            tmp_path, server.url, key, "download", str(uploaded["recording_id"]), "-o", str(target)
        )
    assert resumed["resumed_from"] == len(served) // 2
    assert target.read_bytes() == served
    assert not part.exists()
    assert resumed["sha256"] == media["sha256"]
