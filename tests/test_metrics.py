"""/metrics around real work on a real server: each counter moves by what was done."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ingestkit import ADMIN, SECRET, app_env, new_uid, wav_chunks
from tests.servers import AppServer, app_server
from tests.stores import local_env

USER = 21
RAW = "/recordings/{recording_id}/media/{media_id}/raw"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppServer]:
    local = local_env(tmp_path / "rec")
    with app_server(app_env(local, LOCAL_STORAGE_FSYNC="false"), tmp_path) as started:
        yield started


def scrape(http: httpx.Client) -> Samples:
    text = http.get("/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def put(http: httpx.Client, uid: str, seq: int, body: bytes, final: bool = False) -> httpx.Response:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "audio/wav"}
    if final:
        headers["X-Final"] = "true"
    url = f"/ingest/sessions/{uid}/audio/chunks/{seq}"
    return http.put(url, content=body, headers=headers, params={"user_id": str(USER)})


def test_counters_move_by_the_work_done(server: AppServer, tmp_path: Path) -> None:
    chunks = wav_chunks(10)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        admin = {"X-Admin-API-Key": ADMIN}
        key = http.post(f"/admin/users/{USER}/api-keys", headers=admin).json()["key"]
        other = put(http, new_uid(), 0, chunks[0]).json()["recording_id"]
        before = scrape(http)
        uid = new_uid()
        for seq, chunk in enumerate(chunks[:-1]):
            assert put(http, uid, seq, chunk).status_code == 201
        middle = scrape(http)
        answer = put(http, uid, 9, chunks[9], final=True)
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "completed"
        recording = answer.json()["recording_id"]
        # One 503: the other recording's manifest is a directory now (EISDIR, not a missing file).
        manifest = tmp_path / "rec" / "recordings" / str(USER) / str(other) / "recording.json"
        manifest.unlink()
        manifest.mkdir()
        assert http.get(f"/recordings/{other}", headers={"X-API-Key": key}).status_code == 503
        shutil.rmtree(manifest)
        media = http.get(f"/recordings/{recording}", headers={"X-API-Key": key}).json()
        raw = f"/recordings/{recording}/media/{media['media_files'][0]['id']}/raw"
        whole = http.get(raw, headers={"X-API-Key": key})
        assert whole.status_code == 200
        after = scrape(http)

    assert delta(before, after, "lite_ingest_chunks_total", outcome="stored") == 10
    assert delta(before, after, "lite_ingest_bytes_total") == sum(len(c) for c in chunks)
    assert delta(before, after, "lite_finalized_media_total", outcome="completed") == 1
    assert delta(before, after, "lite_finalize_seconds_count") == 1
    assert delta(before, after, "lite_finalize_seconds_sum") > 0
    assert (
        delta(
            before,
            after,
            "lite_http_requests_total",
            method="GET",
            route="/recordings/{recording_id}",
            status="503",
        )
        == 1
    )
    assert delta(before, after, "lite_http_response_bytes_total", route=RAW) == len(whole.content)
    assert delta(before, middle, "lite_open_sessions") == 1  # ours, until its final chunk
    assert delta(middle, after, "lite_open_sessions") == -1
    puts = sum(
        delta(
            before, after, "lite_storage_seconds_count", backend="local", operation=op, outcome="ok"
        )
        for op in ("put", "put_if_absent", "put_if_match")
    )
    assert puts >= 11  # ten chunks and the master, at least
    assert any(
        name == "lite_storage_seconds_count" and dict(labels).get("outcome") == "not_found"
        for name, labels in after
    )
    build = [labels for name, labels in after if name == "lite_build_info"]
    assert build and dict(build[0])["version"]
