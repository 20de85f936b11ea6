"""Two-hour WebMs in Chromium: the master finalize writes reports a finite duration at once and
seeks to 1:45:00 with a few range requests (printed), for audio and for video with keyframes
every 2 s. The recordings are MediaRecorder-style (tests/webmkit.py), uploaded in ~15 s chunks
through the PUT door of a real server on local storage."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests import mediafiles, webmkit
from tests.playkit import INTERNAL_SECRET, Deployment, Media, deploy
from tests.test_playback_browser import (  # noqa: F401 - fixtures
    browser,
    media_statuses,
    page_origin,
    player_for,
    pytestmark,
)

SEEK_TO = 6300.0  # 1:45:00


def upload(site: Deployment, data: bytes, chunks: list[bytes], kind: str) -> Media:
    uid = f"long-{kind}-{uuid.uuid4().hex[:8]}"
    media_type = "video" if kind == "video" else "audio"
    for seq, chunk in enumerate(chunks):
        headers = {"Authorization": f"Bearer {INTERNAL_SECRET}", "Content-Type": "video/webm"}
        if seq == len(chunks) - 1:
            headers["X-Final"] = "true"
        answer = site.http.put(
            f"/ingest/sessions/{uid}/{media_type}/chunks/{seq}",
            params={"user_id": 7},
            content=chunk,
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
    found = site.recording(uid)
    assert found["status"] == "completed", found
    (media_file,) = found["media_files"]
    expected = mediafiles.webm_master(data)
    assert media_file["file_size_bytes"] == len(expected)
    return Media(
        found["id"],
        media_file["id"],
        uid,
        expected,
        media_file["content_type"],
        0.0,
        media_file["duration_seconds"],
    )


@pytest.fixture(scope="module")
def long_site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, dict[str, float]]]:
    workdir = tmp_path_factory.mktemp("long-browser")
    truths = {}
    (workdir / "app").mkdir()
    with deploy("local", workdir / "app") as site:
        for kind in ("audio", "video"):
            made = workdir / kind
            made.mkdir()
            recording = webmkit.make_recording(made, webmkit.TWO_HOURS, video=kind == "video")
            site.media[kind] = upload(site, recording.path.read_bytes(), recording.chunks, kind)
            truths[kind] = recording.truth
        yield site, truths


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_two_hours_play_and_seek_in_chromium(
    player_for: Any,  # noqa: F811 - the fixture imported above
    long_site: tuple[Deployment, dict[str, float]],
    kind: str,
) -> None:
    site, truths = long_site
    media = site.media[kind]
    assert media.api_duration is not None and abs(media.api_duration - truths[kind]) < 0.1
    src = site.playable_url(media)
    player = player_for(src)
    player.wait_for("loadedmetadata")
    duration = player.duration()
    assert math.isfinite(duration) and abs(duration - truths[kind]) < 0.5, duration
    before = len(media_statuses(player, src))

    seeked = player.seek(SEEK_TO)

    assert abs(seeked["time"] - SEEK_TO) < 0.5, seeked
    reached = player.plays_on_from(seeked["time"])
    assert seeked["time"] + 0.3 < reached < seeked["time"] + 5, reached
    statuses = media_statuses(player, src)
    assert set(statuses) <= {200, 206}, statuses
    took = len(statuses) - before
    print(f"\n{kind}: seek to 1:45:00 of {duration:.3f} s took {took} range requests")
