"""Media facts in the image, which has no ffprobe: a MediaRecorder-style WebM (no duration in
its header) gets its duration from the block timecodes, and waveform peaks are made (issue 11)."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.container import api
from tests.container.podman import Pod
from tests.mediafiles import make_webm


def test_webm_duration_without_ffprobe(pod: Pod) -> None:
    container = pod.start()
    container.wait_healthy()
    assert container.python("import shutil; print(shutil.which('ffprobe'))").strip() == "None"
    key = api.create_key(container.url, 3)
    uid = uuid.uuid4().hex
    data = make_webm(6.0, seekable=False)
    pieces = [data[i : i + len(data) // 4 + 1] for i in range(0, len(data), len(data) // 4 + 1)]
    for seq, piece in enumerate(pieces):
        headers = {**api.recorder_headers(final=seq == len(pieces) - 1)}
        headers["Content-Type"] = "audio/webm"
        reply = httpx.put(
            api.chunk_url(container.url, uid, seq),
            params={"user_id": 3},
            content=piece,
            headers=headers,
            timeout=60,
        )
        assert reply.status_code == 201, reply.text
    recording_id = int(reply.json()["recording_id"])
    body = api.wait_completed(container.url, key, recording_id)
    (media,) = body["media_files"]
    assert abs(float(media["duration_seconds"]) - 6.0) < 0.1, media
    peaks = f"{container.url}/recordings/{recording_id}/media/{media['id']}/peaks"
    deadline = time.monotonic() + 30
    while True:
        reply = httpx.get(peaks, headers={"X-API-Key": key}, timeout=30)
        if reply.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert reply.status_code == 200, reply.text
    assert reply.json()["version"] == 2 and reply.json()["length"] > 0
