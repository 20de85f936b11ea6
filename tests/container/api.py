"""The few HTTP calls the container tests make: keys, ingest, listing, playback."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.container.podman import ADMIN_TOKEN, INTERNAL_SECRET


@dataclass(frozen=True)
class Stored:
    recording_id: int
    media_file_id: int | str
    session_uid: str


def create_key(url: str, user_id: int) -> str:
    reply = httpx.post(
        f"{url}/admin/users/{user_id}/api-keys",
        headers={"X-Admin-API-Key": ADMIN_TOKEN},
        timeout=30,
    )
    assert reply.status_code in (200, 201), reply.text
    body = reply.json()
    assert body["user_id"] == user_id
    return str(body["key"])


def chunk_url(url: str, session_uid: str, seq: int, media_type: str = "audio") -> str:
    return f"{url}/ingest/sessions/{session_uid}/{media_type}/chunks/{seq}"


def recorder_headers(final: bool = True) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {INTERNAL_SECRET}", "Content-Type": "audio/wav"}
    if final:
        headers["X-Final"] = "true"
    return headers


def store_recording(url: str, key: str, user_id: int, wav: bytes) -> Stored:
    """Ingest one final WAV chunk as a recorder would and wait until the recording is completed."""
    session_uid = uuid.uuid4().hex
    reply = httpx.put(
        chunk_url(url, session_uid, 0),
        params={"user_id": user_id},
        content=wav,
        headers=recorder_headers(),
        timeout=60,
    )
    assert reply.status_code in (200, 201), f"ingest: {reply.status_code} {reply.text}"
    body = reply.json()
    stored = Stored(int(body["recording_id"]), body["media_file_id"], session_uid)
    wait_completed(url, key, stored.recording_id)
    return stored


def get_recording(url: str, key: str, recording_id: int) -> httpx.Response:
    return httpx.get(f"{url}/recordings/{recording_id}", headers={"X-API-Key": key}, timeout=30)


def wait_completed(url: str, key: str, recording_id: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = get_recording(url, key, recording_id)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["status"] == "completed":
            return body
        time.sleep(0.2)
    raise AssertionError(f"recording {recording_id} not completed: {body}")


def listed_ids(url: str, key: str) -> list[int]:
    reply = httpx.get(f"{url}/recordings", headers={"X-API-Key": key}, timeout=30)
    assert reply.status_code == 200, reply.text
    return [int(r["id"]) for r in reply.json()["recordings"]]


def raw(url: str, key: str, stored: Stored, byte_range: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": key}
    if byte_range:
        headers["Range"] = byte_range
    path = f"/recordings/{stored.recording_id}/media/{stored.media_file_id}/raw"
    return httpx.get(url + path, headers=headers, timeout=30)


def download(url: str, key: str, stored: Stored) -> dict[str, object]:
    path = f"/recordings/{stored.recording_id}/media/{stored.media_file_id}/download"
    reply = httpx.get(url + path, headers={"X-API-Key": key}, timeout=30)
    assert reply.status_code == 200, reply.text
    body: dict[str, object] = reply.json()
    return body
