"""`vexa-lite verify [--repair]` on a real store with one of each kind of damage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.ingestkit import SECRET, app_env, new_uid, wav_chunks
from tests.servers import app_server
from tests.stores import local_env

USER = 41


def record(http: httpx.Client, chunks: list[bytes]) -> tuple[int, str]:
    uid = new_uid()
    for seq, chunk in enumerate(chunks):
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "audio/wav"}
        if seq == len(chunks) - 1:
            headers["X-Final"] = "true"
        answer = http.put(
            f"/ingest/sessions/{uid}/audio/chunks/{seq}",
            content=chunk,
            headers=headers,
            params={"user_id": str(USER)},
        )
        assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "completed"
    return int(answer.json()["recording_id"]), uid


def verify(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "lite", "verify", "--json", *args],
        env={**os.environ, "STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(root)},
        cwd=root.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        found.setdefault(finding["kind"], []).append(finding)
    return found


def test_verify_finds_each_damage_and_repair_fixes_what_is_safe(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    env = app_env(local_env(root))
    with app_server(env, tmp_path) as server, httpx.Client(base_url=server.url) as http:
        (flipped, flipped_uid), (truncated, truncated_uid), (fine, fine_uid) = (
            record(http, wav_chunks(2, seed=n)) for n in (0, 10, 20)
        )
    base = root / "recordings" / str(USER)
    code, clean = verify(root)
    assert (code, clean["findings"]) == (0, [])
    assert (clean["recordings"], clean["chunks"], clean["masters"]) == (3, 6, 3)

    chunk = base / str(flipped) / flipped_uid / "audio" / "chunks" / "0000000000.wav"
    with open(chunk, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    master = base / str(truncated) / f"{truncated_uid}.wav"
    original = master.read_bytes()
    os.truncate(master, len(original) // 2)
    shutil.copytree(base / str(flipped) / flipped_uid, base / "999999" / flipped_uid)
    (root / "_system" / "open-sessions").mkdir(parents=True, exist_ok=True)
    (root / "_system" / "open-sessions" / fine_uid).write_bytes(b"")
    temp = base / str(fine) / ".tmp-recording.json-abcdef"
    temp.write_bytes(b"half a write")
    an_hour_ago = time.time() - 3600
    os.utime(temp, (an_hour_ago, an_hour_ago))

    code, report = verify(root)
    assert code == 1
    found = kinds(report)
    assert set(found) == {"chunk_damaged", "master_damaged", "orphan", "stale_marker", "temp_file"}
    assert found["chunk_damaged"][0]["key"].endswith(f"{flipped_uid}/audio/chunks/0000000000.wav")
    assert found["master_damaged"][0]["key"].endswith(f"{truncated_uid}.wav")
    assert found["orphan"][0]["key"] == f"recordings/{USER}/999999/"
    assert found["stale_marker"][0]["key"] == f"_system/open-sessions/{fine_uid}"
    assert found["temp_file"][0]["key"] == f"recordings/{USER}/{fine}/.tmp-recording.json-abcdef"
    assert temp.exists() and master.stat().st_size == len(original) // 2  # nothing changed

    code, repaired = verify(root, "--repair")
    assert code == 1  # the damaged chunk and the orphan need a person
    done = {f["kind"]: f["repaired"] for f in repaired["findings"] if f["repaired"]}
    assert done == {
        "master_damaged": "rebuilt from its chunks",
        "stale_marker": "removed",
        "temp_file": "removed",
    }
    assert master.read_bytes() == original
    assert not temp.exists()

    code, again = verify(root)
    assert code == 1
    assert set(kinds(again)) == {"chunk_damaged", "orphan"}
