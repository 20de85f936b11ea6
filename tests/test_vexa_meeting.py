"""A two-hour meeting recorded by Vexa's HEAD bot (its real code, tests/vexa) and played in
Chromium: 480 MediaRecorder timeslices of 15 s sent as fast as the server takes them, every
Cluster identical to Vexa's own master, and the master plays and seeks in a real browser."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browserkit import launch_chromium, requires_chromium
from tests.ingestkit import ADMIN, SECRET, app_env, new_uid, new_user
from tests.servers import app_server
from tests.stores import local_env
from tests.test_playback_browser import Player, page_origin
from tests.vexa import botkit
from tests.vexa.botkit import RunBot, build_recording_master, timeslices, write_blobs
from tests.webmkit import cluster_bodies

pytestmark = [
    botkit.requires_node,
    requires_chromium,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is needed"),
]
vexa_bot = botkit.vexa_bot
player_page = page_origin
SECONDS, SLICE = 7200, 15


def two_hours(tmp: Path) -> bytes:
    """Two hours of Opus like a MediaRecorder's (written to a pipe: no duration, no cues; 1 s
    Clusters): 15 s encoded once, then repeated by ffmpeg with its timestamps carried on."""
    short = tmp / "short.webm"
    sine = f"sine=frequency=440:duration={SLICE}"
    ffmpeg = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    subprocess.run(
        [*ffmpeg, "-f", "lavfi", "-i", sine, "-c:a", "libopus", "-b:a", "8k", "-f", "webm", short],
        check=True,
    )
    loops = ["-stream_loop", str(SECONDS // SLICE - 1), "-i", str(short)]
    return subprocess.run(
        [*ffmpeg, *loops, "-c", "copy", "-f", "webm", "pipe:1"], check=True, capture_output=True
    ).stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


def test_a_two_hour_meeting_arrives_whole_and_plays(
    vexa_bot: RunBot, browser: Any, player_page: str, tmp_path: Path
) -> None:
    slices = timeslices(two_hours(tmp_path), SECONDS // SLICE)
    env = app_env(local_env(tmp_path / "store"))
    with app_server(env, tmp_path) as server, httpx.Client(base_url=server.url) as http:
        user, uid = new_user(), new_uid()
        key = {
            "X-API-Key": http.post(
                f"/admin/users/{user}/api-keys", headers={"X-Admin-API-Key": ADMIN}
            ).json()["key"]
        }
        registered = http.post(
            "/internal/sessions",
            headers={"Authorization": f"Bearer {SECRET}"},
            json={"session_uid": uid, "user_id": user, "meeting_id": 2024},
        )
        assert registered.status_code == 201, registered.text
        run = vexa_bot(
            {
                "bot": "head-meet",
                "upload_url": f"{server.url}/internal/recordings/upload",
                "token": SECRET,
                "meeting_id": 2024,
                "session_uid": uid,
                "blobs": write_blobs(slices, tmp_path),
            },
            timeout=300,
        )
        assert sorted(run.uploaded) == list(range(len(slices) + 1)) and run.lost == []

        (recording,) = http.get("/recordings", headers=key).json()["recordings"]
        assert recording["status"] == "completed" and recording["meeting_id"] == 2024
        (audio,) = recording["media_files"]
        assert audio["missing_chunks"] == [] and audio["chunk_count"] == len(slices) + 1
        assert abs(audio["duration_seconds"] - SECONDS) < 1, audio
        master = http.get(recording["playback_url"]["audio"], headers=key).json()
        ours = http.get(master["raw_url"], headers=key).content
        vexa = build_recording_master([*slices, b""], "webm")
        assert cluster_bodies(ours) == cluster_bodies(vexa)

        link = http.get(
            f"/recordings/{recording['id']}/media/{audio['id']}/download", headers=key
        ).json()
        src = link["url"] if link["url"].startswith("http") else server.url + link["url"]
        player = Player(browser, player_page, src)
        try:
            player.wait_for("loadedmetadata")
            duration = player.duration()
            assert math.isfinite(duration) and abs(duration - SECONDS) < 1, duration
            seeked = player.seek(0.75 * SECONDS)
            assert abs(seeked["time"] - 0.75 * SECONDS) < 0.5, seeked
            reached = player.plays_on_from(seeked["time"])
            assert seeked["time"] + 0.3 < reached < seeked["time"] + 5, reached
        finally:
            player.close()
