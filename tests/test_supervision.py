"""Supervised background work: a broken session is logged, counted and skipped while the others
finalize; a reconciler loop that dies turns /readyz to 503 naming it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import httpx
import pytest

from lite.reconciler import Reconciler
from tests.ingestkit import ADMIN, SECRET, app_env, new_uid, wav_chunks
from tests.inproc import inproc_client
from tests.servers import app_server
from tests.stores import local_env

USER = 31


def put(http: httpx.Client, uid: str, body: bytes) -> int:
    answer = http.put(
        f"/ingest/sessions/{uid}/audio/chunks/0",
        content=body,
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "audio/wav"},
        params={"user_id": str(USER)},
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["recording_id"])


def reconciler_errors(http: httpx.Client) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("lite_reconciler_errors_total "):
            return float(line.split()[1])
    return 0.0


def test_a_corrupted_manifest_is_logged_and_skipped_while_others_finalize(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    env = app_env(
        local_env(root),
        LITE_RECONCILE_INTERVAL_SECONDS="1",
        LITE_SESSION_IDLE_SECONDS="1",
        LOCAL_STORAGE_FSYNC="false",
    )
    [chunk] = wav_chunks(1)
    with app_server(env, tmp_path) as server, httpx.Client(base_url=server.url) as http:
        bad_uid, good_uid = new_uid(), new_uid()
        bad, good = put(http, bad_uid, chunk), put(http, good_uid, chunk)
        (root / "recordings" / str(USER) / str(bad) / "recording.json").write_bytes(b"{broken")
        key = http.post(f"/admin/users/{USER}/api-keys", headers={"X-Admin-API-Key": ADMIN})
        headers = {"X-API-Key": key.json()["key"]}
        deadline = time.monotonic() + 60
        while http.get(f"/recordings/{good}", headers=headers).json()["status"] != "completed":
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.3)
        first = reconciler_errors(http)
        assert first >= 1
        while reconciler_errors(http) <= first:  # still running, still failing on that one
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.3)
        assert http.get("/readyz").status_code == 200
        log = server.log()
    failures = [
        json.loads(line)
        for line in log.splitlines()
        if bad_uid in line and json.loads(line)["level"] == "error"
    ]
    assert failures and "exception" in failures[0]


@pytest.mark.anyio
async def test_a_dead_reconciler_makes_readyz_503_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def dies(self: Reconciler, interval: float) -> None:
        raise RuntimeError("the loop broke")

    monkeypatch.setattr(Reconciler, "run_forever", dies)
    env = local_env(tmp_path, LITE_RECONCILE_INTERVAL_SECONDS="1")
    async with inproc_client(env) as http:
        deadline = time.monotonic() + 10
        while (answer := await http.get("/readyz")).status_code == 200:
            assert time.monotonic() < deadline
            await anyio.sleep(0.05)
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == (
        "background task reconciler stopped (RuntimeError: the loop broke)"
    )
