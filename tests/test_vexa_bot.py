"""Vexa's real bot code (tests/vexa: HEAD and 0.10.x, unmodified, under node) records meetings into
a real server. Every master must be byte-identical to what Vexa's own `build_recording_master`
makes of the chunks the bot produced, `GET /recordings` must list it for its owner with
`playback_url`, and nobody else may see it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingestkit import ADMIN, SECRET, app_env, new_uid, new_user
from tests.mediafiles import make_webm, pcm
from tests.servers import AppServer, app_server
from tests.stores import local_env
from tests.vexa import botkit
from tests.vexa.botkit import (
    BotRun,
    RunBot,
    build_recording_master,
    mint_meeting_token,
    timeslices,
    write_blobs,
)
from tests.vexa.faultproxy import FaultProxy
from tests.webmkit import cluster_bodies

pytestmark = botkit.requires_node
vexa_bot = botkit.vexa_bot
UPLOAD = "/internal/recordings/upload"
EBML = bytes.fromhex("1a45dfa3")


@dataclass
class Lite:
    server: AppServer
    http: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url

    def key_for(self, user_id: int) -> dict[str, str]:
        made = self.http.post(
            f"/admin/users/{user_id}/api-keys", headers={"X-Admin-API-Key": ADMIN}, json={}
        )
        assert made.status_code == 201, made.text
        return {"X-API-Key": made.json()["key"]}

    def register(self, session_uid: str, user_id: int, meeting_id: int) -> dict[str, Any]:
        """What Vexa's launcher does before it starts a bot."""
        made = self.http.post(
            "/internal/sessions",
            headers={"Authorization": f"Bearer {SECRET}"},
            json={"session_uid": session_uid, "user_id": user_id, "meeting_id": meeting_id},
        )
        assert made.status_code in (200, 201), made.text
        body: dict[str, Any] = made.json()
        return body

    def listed(self, key: dict[str, str], session_uid: str) -> dict[str, Any]:
        """The recording of a session as its owner's `GET /recordings` lists it."""
        page = self.http.get("/recordings", headers=key, params={"limit": 200}).json()
        found: list[dict[str, Any]] = [
            r for r in page["recordings"] if r["session_uid"] == session_uid
        ]
        assert len(found) == 1, page
        return found[0]

    def master_bytes(self, key: dict[str, str], recording: dict[str, Any]) -> bytes:
        """The master through what Vexa's dashboard uses: `playback_url.audio`."""
        audio = recording["playback_url"]["audio"]
        assert audio == f"/recordings/{recording['id']}/master?type=audio"
        assert recording["playback_url"]["video"] is None
        master = self.http.get(audio, headers=key)
        assert master.status_code == 200, master.text
        assert recording["media_files"][0]["storage_backend"] == "local"
        stored = recording["media_files"][0]["storage_path"]
        assert stored.startswith(f"recordings/{recording['user_id']}/{recording['id']}/")
        raw = self.http.get(master.json()["raw_url"], headers=key)
        assert raw.status_code == 200
        return raw.content

    def unseen_by(self, other: dict[str, str], recording: dict[str, Any]) -> None:
        """Another user sees nothing of it: not listed, 404 on every path."""
        page = self.http.get("/recordings", headers=other, params={"limit": 200}).json()
        assert recording["id"] not in [r["id"] for r in page["recordings"]]
        rid = recording["id"]
        for path in (f"/recordings/{rid}", f"/recordings/{rid}/master?type=audio"):
            assert self.http.get(path, headers=other).status_code == 404
        media = recording["media_files"][0]["id"]
        assert (
            self.http.get(f"/recordings/{rid}/media/{media}/raw", headers=other).status_code == 404
        )


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lite]:
    tmp = tmp_path_factory.mktemp("vexa-lite")
    env = app_env(local_env(tmp / "recordings"))
    with app_server(env, tmp) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield Lite(server, http)


def meet_scenario(lite: Lite, uid: str, blobs: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "bot": "head-meet",
        "upload_url": f"{lite.url}{UPLOAD}",
        "token": SECRET,
        "meeting_id": 4711,
        "session_uid": uid,
        "blobs": blobs,
        **extra,
    }


def expected_webm(slices: list[bytes], lost: frozenset[int] = frozenset()) -> bytes:
    """Vexa's master of what arrived: the slices in seq order, then the empty final chunk."""
    kept = [s for seq, s in enumerate(slices) if seq not in lost]
    return build_recording_master([*kept, b""], "webm")


def same_webm(ours: bytes, vexa: bytes) -> bool:
    """Our WebM master is Vexa's re-laid out to be seekable (Duration, Cues, SeekHead; see
    docs/vexa.md): every Cluster, where the coded audio is, byte for byte the same."""
    return ours.startswith(EBML) and cluster_bodies(ours) == cluster_bodies(vexa) != []


def all_sent(run: BotRun, count: int) -> None:
    assert sorted(run.uploaded) == list(range(count)), run.output[-3000:]
    assert run.lost == []


def test_head_bot_with_a_registered_session(lite: Lite, vexa_bot: RunBot, tmp_path: Path) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    lite.register(uid, user, 4711)
    slices = timeslices(make_webm(6, seekable=False), 4)
    run = vexa_bot(meet_scenario(lite, uid, write_blobs(slices, tmp_path)))
    all_sent(run, 5)
    assert run.uploaded[-2:] == [4, 3]  # the final chunk overtook the last data chunk
    recording = lite.listed(key, uid)
    assert recording["status"] == "completed"
    assert recording["meeting_id"] == 4711 and recording["source"] == "bot"
    assert recording["media_files"][0]["missing_chunks"] == []
    assert same_webm(lite.master_bytes(key, recording), expected_webm(slices))


def test_head_bot_with_a_session_the_user_registered(
    lite: Lite, vexa_bot: RunBot, tmp_path: Path
) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    made = lite.http.post("/recordings", headers=key, json={"session_uid": uid, "meeting_id": 9})
    assert made.status_code == 201, made.text
    slices = timeslices(make_webm(3, seekable=False), 3)
    all_sent(vexa_bot(meet_scenario(lite, uid, write_blobs(slices, tmp_path))), 4)
    recording = lite.listed(key, uid)
    assert recording["id"] == made.json()["id"] and recording["status"] == "completed"
    assert recording["source"] == "upload"  # the user created it through the API
    assert same_webm(lite.master_bytes(key, recording), expected_webm(slices))
    lite.unseen_by(lite.key_for(new_user()), recording)


def zoom_scenario(
    lite: Lite, bot: str, uid: str, token: str, audio: bytes, tmp_path: Path, **extra: Any
) -> dict[str, Any]:
    source = tmp_path / f"{uid}.pcm"
    source.write_bytes(audio)
    return {
        "bot": bot,
        "upload_url": f"{lite.url}{UPLOAD}",
        "token": token,
        "meeting_id": 77,
        "session_uid": uid,
        "pcm": str(source),
        "pcm_bytes": len(audio),
        "chunk_seconds": 1,
        **extra,
    }


def expected_wav(audio: bytes, rate: int = 16000, seconds: int = 1) -> bytes:
    """Vexa's master of the Zoom pipeline's chunks: whole seconds, then the tail as final."""
    step = rate * 2 * seconds
    pieces = [audio[i : i + step] for i in range(0, len(audio), step)]
    if len(pieces[-1]) == step:
        pieces.append(b"")
    return build_recording_master([wav_header(len(p), rate) + p for p in pieces], "wav")


def wav_header(size: int, rate: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", size)
    )


def test_v010_bot_with_a_meeting_token(lite: Lite, vexa_bot: RunBot, tmp_path: Path) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    token = mint_meeting_token(77, user, SECRET)
    audio = pcm(16000 * 3 + 1000)
    run = vexa_bot(zoom_scenario(lite, "v010-zoom", uid, token, audio, tmp_path))
    all_sent(run, 4)
    recording = lite.listed(key, uid)
    assert recording["status"] == "completed" and recording["meeting_id"] == 77
    assert recording["source"] == "bot"
    assert lite.master_bytes(key, recording) == expected_wav(audio)
    lite.unseen_by(lite.key_for(new_user()), recording)


def test_head_zoom_pipeline_with_a_registered_session(
    lite: Lite, vexa_bot: RunBot, tmp_path: Path
) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    lite.register(uid, user, 77)
    audio = pcm(16000 * 4)  # whole seconds: the final chunk is a bare header
    all_sent(vexa_bot(zoom_scenario(lite, "head-zoom", uid, SECRET, audio, tmp_path)), 5)
    recording = lite.listed(key, uid)
    assert lite.master_bytes(key, recording) == expected_wav(audio)


def test_a_cut_response_is_retried_and_comes_back_duplicate(
    lite: Lite, vexa_bot: RunBot, tmp_path: Path
) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    lite.register(uid, user, 4711)
    slices = timeslices(make_webm(4, seekable=False), 4)
    with FaultProxy(lite.url, cut=frozenset({1})) as proxy:
        run = vexa_bot(
            {
                **meet_scenario(lite, uid, write_blobs(slices, tmp_path)),
                "upload_url": f"{proxy.url}{UPLOAD}",
            }
        )
    all_sent(run, 5)
    assert len(run.messages("Chunk upload attempt failed; will retry")) == 1
    first, retry = proxy.responses[1]
    assert b" 201 " in first.split(b"\r\n", 1)[0] and b'"duplicate":false' in first
    assert b" 200 " in retry.split(b"\r\n", 1)[0] and b'"duplicate":true' in retry
    recording = lite.listed(key, uid)
    assert recording["media_files"][0]["chunk_count"] == 5
    assert same_webm(lite.master_bytes(key, recording), expected_webm(slices))


def test_a_chunk_lost_for_good_still_completes_with_the_gap_listed(
    lite: Lite, vexa_bot: RunBot, tmp_path: Path
) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    lite.register(uid, user, 4711)
    slices = timeslices(make_webm(4, seekable=False), 4)
    with FaultProxy(lite.url, refuse=frozenset({2})) as proxy:
        run = vexa_bot(
            {
                **meet_scenario(lite, uid, write_blobs(slices, tmp_path)),
                "upload_url": f"{proxy.url}{UPLOAD}",
            }
        )
    assert run.lost == [2] and proxy.attempts[2] == 3  # Vexa's bot tries three times
    recording = lite.listed(key, uid)
    assert recording["status"] == "completed"  # at once, not after the idle timeout
    assert recording["media_files"][0]["missing_chunks"] == [2]
    assert same_webm(lite.master_bytes(key, recording), expected_webm(slices, frozenset({2})))


def test_an_unregistered_session_is_kept_for_the_admin_to_assign(
    lite: Lite, vexa_bot: RunBot, tmp_path: Path
) -> None:
    user, uid = new_user(), new_uid()
    key = lite.key_for(user)
    slices = timeslices(make_webm(3, seekable=False), 3)
    all_sent(vexa_bot(meet_scenario(lite, uid, write_blobs(slices, tmp_path))), 4)
    admin = {"X-Admin-API-Key": ADMIN}
    listed = lite.http.get("/admin/recordings", params={"unassigned": "true"}, headers=admin)
    assert listed.status_code == 200, listed.text
    found = [r for r in listed.json()["recordings"] if r["session_uid"] == uid]
    assert len(found) == 1 and found[0]["status"] == "completed"
    assert lite.http.get("/admin/recordings", params={"unassigned": "true"}).status_code == 401
    page = lite.http.get("/recordings", headers=key, params={"limit": 200}).json()
    assert uid not in [r["session_uid"] for r in page["recordings"]]

    assigned = lite.http.post(
        f"/admin/recordings/{found[0]['id']}/owner", headers=admin, json={"user_id": user}
    )
    assert assigned.status_code == 200, assigned.text
    recording = lite.listed(key, uid)
    assert recording["user_id"] == user and recording["status"] == "completed"
    assert same_webm(lite.master_bytes(key, recording), expected_webm(slices))
    listed = lite.http.get("/admin/recordings", params={"unassigned": "true"}, headers=admin)
    assert uid not in [r["session_uid"] for r in listed.json()["recordings"]]
    metrics = lite.http.get("/metrics").text
    assert 'lite_ingest_unowned_chunks_total{owner="unassigned"}' in metrics


def test_no_api_key_can_open_the_unassigned_recordings(lite: Lite) -> None:
    made = lite.http.post("/admin/users/0/api-keys", headers={"X-Admin-API-Key": ADMIN}, json={})
    assert made.status_code == 400


def test_a_meeting_token_cannot_write_into_another_users_session(
    lite: Lite, vexa_bot: RunBot, tmp_path: Path
) -> None:
    owner, intruder, uid = new_user(), new_user(), new_uid()
    lite.register(uid, owner, 77)
    token = mint_meeting_token(77, intruder, SECRET)
    audio = pcm(16000)
    run = vexa_bot(zoom_scenario(lite, "v010-zoom", uid, token, audio, tmp_path))
    assert run.uploaded == [] and sorted(run.lost) == [0, 1]
    forged = mint_meeting_token(77, owner, "not-the-secret")
    run = vexa_bot(zoom_scenario(lite, "v010-zoom", uid, forged, audio, tmp_path))
    assert run.uploaded == []
    assert all("401" in str(r.get("error_message")) for r in run.messages("failed permanently"))
