"""Both ingest doors over the wire, against `python -m lite serve` on real Hypercorn.

Each backend (local disk, SeaweedFS) gets one server for the module; tests use their own users
and session uids. Tests that change settings, kill, pause or fill the store start their own.
What the server stored is checked in the directory or bucket itself (`StoreView`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest

from tests.ingestkit import (
    SECRET,
    VexaBot,
    api_key,
    app_env,
    bearer,
    byte_slices,
    canonical_wav_header,
    chunk_keys,
    eventually,
    finalize,
    new_uid,
    new_user,
    post_form,
    put_chunk,
    session_status,
    sha,
    to_thread,
    vexa_form,
    wav_chunks,
    wav_master,
)
from tests.mediafiles import FFPROBE, make_wav, make_webm, read_wav, webm_master
from tests.servers import AppServer, SeaweedServer, app_server
from tests.stores import StoreView, new_store

pytestmark = pytest.mark.anyio

WIRE_BACKENDS = ["local", "seaweedfs"]
DOORS = ["vexa", "put"]
# Request validation happens before storage is touched: one backend is enough for it.
LOCAL_ONLY = pytest.mark.parametrize("wire", ["local"], indirect=True)


@dataclass
class Wire:
    kind: str
    env: dict[str, str]
    server: AppServer
    store: StoreView

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def serving(kind: str, tmp: Path, request: pytest.FixtureRequest, **extra: str) -> Iterator[Wire]:
    with new_store(kind, tmp, request) as store:
        env = app_env(store.env, **extra)
        with app_server(env, tmp) as server:
            yield Wire(kind, env, server, store.view)


@pytest.fixture(scope="module", params=WIRE_BACKENDS)
def wire(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Wire]:
    with serving(request.param, tmp_path_factory.mktemp(f"wire-{request.param}"), request) as found:
        yield found


@pytest.fixture
async def http(wire: Wire) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=wire.url, timeout=30) as client:
        yield client


async def send(
    door: str,
    http: httpx.AsyncClient,
    uid: str,
    seq: int | str,
    data: bytes,
    user: int,
    *,
    fmt: str = "wav",
    final: bool = False,
) -> httpx.Response:
    """One chunk through either door."""
    if door == "put":
        return await put_chunk(
            http, uid, seq, data, user_id=user, content_type=f"audio/{fmt}", final=final
        )
    body, ctype = vexa_form(
        session_uid=uid, seq=seq, data=data, fmt=fmt, is_final=final, user_id=user
    )
    return await post_form(http, body, ctype)


async def status_of(http: httpx.AsyncClient, uid: str, user: int) -> dict[str, Any]:
    answer = await session_status(http, uid, user)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def held(http: httpx.AsyncClient, uid: str, user: int) -> dict[int, str]:
    """seq → sha256 of every audio chunk the server holds for the session."""
    media = (await status_of(http, uid, user))["media"].get("audio", {"chunks": []})
    return {c["seq"]: c["sha256"] for c in media["chunks"]}


async def recording_json(http: httpx.AsyncClient, user: int, recording_id: int) -> dict[str, Any]:
    answer = await http.get(
        f"/recordings/{recording_id}", headers={"X-API-Key": await api_key(http, user)}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def error_code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


# --- Vexa's bot, byte for byte --------------------------------------------------------------------


@functools.cache
def webm_file() -> bytes:
    return make_webm(4.0)


def session_media(fmt: str) -> tuple[list[bytes], bytes]:
    """20 chunks and the master they must make: WAV files, or byte slices of one WebM file."""
    if fmt == "wav":
        chunks = wav_chunks(20, seconds=0.1)
        return chunks, wav_master(chunks)
    original = webm_file()
    return byte_slices(original, 20), webm_master(original)


@pytest.mark.parametrize("fmt", ["wav", "webm"])
async def test_a_vexa_bot_session_makes_one_completed_byte_exact_master(
    wire: Wire, http: httpx.AsyncClient, fmt: str
) -> None:
    user, uid = new_user(), new_uid()
    chunks, expected = session_media(fmt)

    answers = await VexaBot(http, uid, user, fmt).record(chunks)

    assert [a.status_code for a in answers] == [201] * 21, [a.text for a in answers]
    recording_id = answers[0].json()["recording_id"]
    assert {a.json()["recording_id"] for a in answers} == {recording_id}
    assert [a.json()["status"] for a in answers] == ["in_progress"] * 20 + ["completed"]
    master_key = f"recordings/{user}/{recording_id}/{uid}.{fmt}"
    master = await wire.store.read(master_key)
    assert master == expected
    stored = await wire.store.keys(f"recordings/{user}/")
    assert [k for k in stored if k.endswith("/recording.json")] == [
        f"recordings/{user}/{recording_id}/recording.json"
    ]
    assert len(chunk_keys(stored, uid)) == 21
    recording = await recording_json(http, user, recording_id)
    assert recording["status"] == "completed"
    assert (recording["session_uid"], str(recording["meeting_id"])) == (uid, "42")
    (audio,) = recording["media_files"]
    assert (audio["format"], audio["content_type"]) == (fmt, f"audio/{fmt}")
    assert (audio["file_size_bytes"], audio["sha256"]) == (len(expected), sha(expected))
    assert audio["missing_chunks"] == []
    if fmt == "wav":
        params, _ = read_wav(master)
        assert (params.framerate, params.nchannels, params.nframes) == (16000, 1, 20 * 1600)
        assert audio["duration_seconds"] == pytest.approx(2.0)
    elif FFPROBE:
        assert audio["duration_seconds"] == pytest.approx(4.0, abs=0.1)


async def test_a_whole_recording_uploaded_once_is_stored_as_is(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    # Vexa's older bots upload one file at the end: no chunk_seq, no is_final, "recording.wav".
    user, uid = new_user(), new_uid()
    data = make_wav(1.0, seed=9)
    metadata = {"meeting_id": 42, "session_uid": uid, "format": "wav", "sample_rate": 16000}
    body, ctype = vexa_form(
        session_uid=uid, seq=0, data=data, metadata=metadata, flat={"user_id": str(user)}
    )

    answer = await post_form(http, body, ctype)

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "completed"
    rec = answer.json()["recording_id"]
    assert await wire.store.read(f"recordings/{user}/{rec}/{uid}.wav") == data


async def test_audio_and_video_of_one_session_get_their_own_masters(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    user, uid = new_user(), new_uid()
    audio, video = wav_chunks(3), byte_slices(webm_file(), 3)
    for seq in range(3):
        assert (await put_chunk(http, uid, seq, audio[seq], user_id=user)).status_code == 201
        answer = await put_chunk(
            http, uid, seq, video[seq], user_id=user, media_type="video", content_type="video/webm"
        )
        assert answer.status_code == 201, answer.text
    half = await put_chunk(http, uid, 3, b"", user_id=user, final=True)
    assert half.json()["status"] == "in_progress"  # the video is not finished yet
    done = await put_chunk(
        http, uid, 3, b"", user_id=user, media_type="video", content_type="video/webm", final=True
    )

    assert done.json()["status"] == "completed", done.text
    rec = done.json()["recording_id"]
    assert await wire.store.read(f"recordings/{user}/{rec}/{uid}.wav") == wav_master(audio)
    assert await wire.store.read(f"recordings/{user}/{rec}/{uid}.video.webm") == webm_master(
        webm_file()
    )
    files = {m["type"]: m for m in (await recording_json(http, user, rec))["media_files"]}
    assert files["video"]["content_type"] == "video/webm"
    assert files["audio"]["content_type"] == "audio/wav"


@LOCAL_ONLY
async def test_flat_fields_override_the_metadata_json(wire: Wire, http: httpx.AsyncClient) -> None:
    user, uid = new_user(), new_uid()
    data = make_wav(0.05)
    body, ctype = vexa_form(
        session_uid=uid,
        seq=0,
        data=data,
        metadata={"session_uid": uid, "format": "wav", "chunk_seq": 0, "is_final": True},
        flat={"chunk_seq": "5", "is_final": "false", "user_id": str(user)},
    )

    answer = await post_form(http, body, ctype)

    assert answer.status_code == 201, answer.text
    assert (answer.json()["chunk_seq"], answer.json()["status"]) == (5, "in_progress")
    assert await held(http, uid, user) == {5: sha(data)}


@LOCAL_ONLY
@pytest.mark.parametrize("door", DOORS)
async def test_bytes_that_are_not_the_declared_format_get_415(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    user, uid = new_user(), new_uid()
    answer = await send(door, http, uid, 0, make_wav(0.5), user, fmt="mp4", final=True)

    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "(MP4 (ftyp))" in error["message"] and "look like WAV (RIFF/WAVE)" in error["message"]
    assert (await session_status(http, uid, user)).status_code == 404  # no recording made


FINAL_FLAGS = [
    ("vexa", "false", False),
    ("vexa", "0", False),
    ("vexa", "False", False),
    ("vexa", "true", True),
    ("vexa", "1", True),
    ("vexa", None, True),  # Vexa's upload default: one whole file, final
    ("put", "false", False),
    ("put", "0", False),
    ("put", "true", True),
    ("put", None, False),
]


@LOCAL_ONLY
@pytest.mark.parametrize("door,flag,final", FINAL_FLAGS)
async def test_is_final_flags(
    wire: Wire, http: httpx.AsyncClient, door: str, flag: str | None, final: bool
) -> None:
    user, uid = new_user(), new_uid()
    data = make_wav(0.05)
    if door == "vexa":
        flat = {"chunk_seq": "0", "user_id": str(user)}
        if flag is not None:
            flat["is_final"] = flag
        body, ctype = vexa_form(
            session_uid=uid, seq=0, data=data, metadata={"session_uid": uid}, flat=flat
        )
        answer = await post_form(http, body, ctype)
    else:
        headers = {"Content-Type": "audio/wav", **bearer()}
        if flag is not None:
            headers["X-Final"] = flag
        url = f"/ingest/sessions/{uid}/audio/chunks/0"
        answer = await http.put(url, content=data, headers=headers, params={"user_id": user})

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == ("completed" if final else "in_progress")
    status = await status_of(http, uid, user)
    assert status["media"]["audio"]["final_seq"] == (0 if final else None)


@LOCAL_ONLY
async def test_the_vexa_door_takes_user_id_from_the_query_string(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    # Vexa's bot cannot add form fields; a deployment names the user in the URL it gives the bot.
    user, uid = new_user(), new_uid()
    body, ctype = vexa_form(session_uid=uid, seq=0, data=make_wav(0.05))
    answer = await http.post(
        "/internal/recordings/upload",
        content=body,
        params={"user_id": str(user)},
        headers={"Content-Type": ctype, **bearer()},
    )
    assert answer.status_code == 201, answer.text
    assert await held(http, uid, user) != {}


# --- idempotency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
async def test_resending_every_chunk_is_a_duplicate_counted_once(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(5)
    for seq, data in enumerate(chunks):
        assert (await send(door, http, uid, seq, data, user)).status_code == 201
    done = await send(door, http, uid, 5, b"", user, final=True)
    assert done.json()["status"] == "completed"
    before = await held(http, uid, user)

    for seq, data in enumerate(chunks):
        again = await send(door, http, uid, seq, data, user)
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True and again.json()["sha256"] == sha(data)

    assert await held(http, uid, user) == before
    assert len(before) == 6
    recording = await recording_json(http, user, done.json()["recording_id"])
    assert recording["media_files"][0]["chunk_count"] == 6
    assert len(chunk_keys(await wire.store.keys(f"recordings/{user}/"), uid)) == 6


@pytest.mark.parametrize("door", DOORS)
async def test_different_bytes_for_a_stored_seq_answer_409_with_the_stored_sha256(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    user, uid = new_user(), new_uid()
    first, other = make_wav(0.05, seed=1), make_wav(0.05, seed=2)
    assert (await send(door, http, uid, 0, first, user)).status_code == 201

    answer = await send(door, http, uid, 0, other, user)

    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["stored_sha256"] == sha(first)
    assert await held(http, uid, user) == {0: sha(first)}


async def test_a_wrong_x_content_sha256_is_400_and_nothing_is_stored(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    user, uid = new_user(), new_uid()
    assert (await put_chunk(http, uid, 0, make_wav(0.05), user_id=user)).status_code == 201
    data = make_wav(0.05, seed=1)

    wrong = await put_chunk(http, uid, 1, data, user_id=user, digest=sha(b"other bytes"))

    assert wrong.status_code == 400, wrong.text
    assert error_code(wrong) == "checksum_mismatch"
    assert list(await held(http, uid, user)) == [0]
    assert len(chunk_keys(await wire.store.keys(f"recordings/{user}/"), uid)) == 1
    assert await wire.store.partials() == []

    right = await put_chunk(http, uid, 1, data, user_id=user, digest=sha(data))

    assert right.status_code == 201, right.text
    assert (await held(http, uid, user))[1] == sha(data)


@pytest.mark.parametrize("door", DOORS)
async def test_concurrent_uploads_of_one_seq_store_it_once(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    user, uid = new_user(), new_uid()
    data = make_wav(0.05)
    answers: list[httpx.Response] = []

    async def one() -> None:
        answers.append(await send(door, http, uid, 0, data, user))

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(one)

    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert sum(a.json()["duplicate"] for a in answers) == 7
    assert len({a.json()["recording_id"] for a in answers}) == 1
    assert len(chunk_keys(await wire.store.keys(f"recordings/{user}/"), uid)) == 1


# --- order, gaps, late chunks ---------------------------------------------------------------------


async def test_60_chunks_in_random_order_8_in_flight_make_a_byte_exact_master(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(60, seed=100)
    order = list(range(60))
    random.Random(60).shuffle(order)
    limiter = anyio.CapacityLimiter(8)
    codes: dict[int, int] = {}

    async def one(seq: int) -> None:
        async with limiter:
            answer = await put_chunk(http, uid, seq, chunks[seq], user_id=user, final=seq == 59)
            codes[seq] = answer.status_code

    async with anyio.create_task_group() as group:
        for seq in order:
            group.start_soon(one, seq)

    assert set(codes.values()) == {201}, codes
    status = await status_of(http, uid, user)
    assert status["status"] == "completed"
    rec = status["recording_id"]
    assert await wire.store.read(f"recordings/{user}/{rec}/{uid}.wav") == wav_master(chunks)


async def gappy_session(http: httpx.AsyncClient, user: int, uid: str, chunks: list[bytes]) -> Any:
    """Chunks 0, 1 and 3 arrive, 2 is lost; the recorder asks to finalize."""
    for seq in (0, 1, 3):
        assert (await put_chunk(http, uid, seq, chunks[seq], user_id=user)).status_code == 201
    answer = await finalize(http, uid, user)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_finalize_lists_a_gap_in_missing_chunks(wire: Wire, http: httpx.AsyncClient) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(4)

    recording = await gappy_session(http, user, uid, chunks)

    assert recording["status"] == "completed"
    (audio,) = recording["media_files"]
    assert (audio["missing_chunks"], audio["chunk_count"]) == ([2], 3)
    assert (await status_of(http, uid, user))["media"]["audio"]["missing"] == [2]
    master = await wire.store.read(f"recordings/{user}/{recording['id']}/{uid}.wav")
    silence = chunks[2][:44] + bytes(len(chunks[2]) - 44)  # same-length chunks: 44-byte headers
    assert master == wav_master([chunks[0], chunks[1], silence, chunks[3]])
    assert audio["problems"] == ["seq 2 missing: 0.1 s of silence inserted"]


async def test_a_late_chunk_after_finalize_rebuilds_the_master_with_it(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(4)
    recording = await gappy_session(http, user, uid, chunks)

    late = await put_chunk(http, uid, 2, chunks[2], user_id=user)

    assert late.status_code == 201, late.text
    assert late.json()["status"] == "completed"
    master = await wire.store.read(f"recordings/{user}/{recording['id']}/{uid}.wav")
    assert master == wav_master(chunks)
    (audio,) = (await recording_json(http, user, recording["id"]))["media_files"]
    assert (audio["missing_chunks"], audio["chunk_count"], audio["sha256"]) == ([], 4, sha(master))


async def test_mismatched_wav_formats_fail_the_recording_and_reads_stay_4xx(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    user, uid = new_user(), new_uid()
    chunks = [make_wav(0.1, rate=16000, channels=1), make_wav(0.1, rate=48000, channels=2)]

    answers = await VexaBot(http, uid, user).record(chunks)

    assert [a.status_code for a in answers] == [201] * 3
    assert answers[-1].json()["status"] == "failed"
    recording = await recording_json(http, user, answers[0].json()["recording_id"])
    assert recording["status"] == "failed"
    reason = recording["error_message"]
    assert "16000 Hz, 1 ch" in reason and "48000 Hz, 2 ch" in reason, reason
    headers = {"X-API-Key": await api_key(http, user)}
    rec, media = recording["id"], recording["media_files"][0]["id"]
    master = await http.get(f"/recordings/{rec}/master", params={"type": "audio"}, headers=headers)
    assert master.status_code == 404, master.text
    raw = await http.get(f"/recordings/{rec}/media/{media}/raw", headers=headers)
    assert 400 <= raw.status_code < 500, raw.text
    assert "16000" in raw.text


# --- auth -----------------------------------------------------------------------------------------

BAD_AUTH = {
    "missing": {},
    "wrong-secret": {"Authorization": "Bearer not-the-secret"},
    "basic-scheme": {"Authorization": f"Basic {SECRET}"},
    "bearer-without-token": {"Authorization": "Bearer"},
}


@LOCAL_ONLY
@pytest.mark.parametrize("auth", list(BAD_AUTH))
@pytest.mark.parametrize("call", ["vexa", "put", "status", "finalize"])
async def test_a_missing_or_wrong_bearer_is_401(
    wire: Wire, http: httpx.AsyncClient, auth: str, call: str
) -> None:
    user, uid = new_user(), new_uid()
    headers = BAD_AUTH[auth]
    params = {"user_id": str(user)}
    if call == "vexa":
        body, ctype = vexa_form(session_uid=uid, seq=0, data=make_wav(0.05), user_id=user)
        answer = await http.post(
            "/internal/recordings/upload", content=body, headers={**headers, "Content-Type": ctype}
        )
    elif call == "put":
        answer = await http.put(
            f"/ingest/sessions/{uid}/audio/chunks/0",
            content=make_wav(0.05),
            params=params,
            headers={**headers, "Content-Type": "audio/wav"},
        )
    elif call == "status":
        answer = await http.get(f"/ingest/sessions/{uid}", params=params, headers=headers)
    else:
        answer = await http.post(f"/ingest/sessions/{uid}/finalize", params=params, headers=headers)

    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].lower().startswith("bearer")
    assert await wire.store.keys(f"_system/sessions/{uid}") == []


@LOCAL_ONLY
@pytest.mark.parametrize("door", DOORS)
async def test_the_internal_secret_alone_keeps_an_unregistered_session_unassigned(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    """What Vexa's HEAD bot sends: no user_id. Nobody registered the session, so the chunk is
    kept under the reserved unassigned owner (0) for the admin to assign; never refused."""
    uid = new_uid()
    if door == "put":
        answer = await put_chunk(http, uid, 0, make_wav(0.05))
    else:
        body, ctype = vexa_form(session_uid=uid, seq=0, data=make_wav(0.05))
        answer = await post_form(http, body, ctype)
    assert answer.status_code == 201, answer.text
    index = json.loads(await wire.store.read(f"_system/sessions/{uid}.json"))
    assert index["user_id"] == 0


async def test_the_internal_secret_naming_another_user_cannot_reach_a_session(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    owner, other, uid = new_user(), new_user(), new_uid()
    first = make_wav(0.05)
    assert (await put_chunk(http, uid, 0, first, user_id=owner)).status_code == 201

    assert (await session_status(http, uid, other)).status_code == 404
    assert (await finalize(http, uid, other)).status_code == 404
    sent = await put_chunk(http, uid, 1, make_wav(0.05, seed=1), user_id=other)
    assert sent.status_code in (404, 409), sent.text
    assert await held(http, uid, owner) == {0: sha(first)}
    assert await wire.store.keys(f"recordings/{other}/") == []


async def create_recording(http: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    answer = await http.post("/recordings", json=body, headers={"X-API-Key": key})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_an_upload_token_works_for_its_own_session_only(
    wire: Wire, http: httpx.AsyncClient
) -> None:
    user = new_user()
    key = await api_key(http, user)
    mine = await create_recording(http, key, meeting_id="m-1")
    other = await create_recording(http, key)
    token, uid = mine["upload_token"], mine["session_uid"]
    assert mine["upload_url"].endswith(f"/ingest/sessions/{uid}")
    data = make_wav(0.05)

    own = await put_chunk(http, uid, 0, data, token=token)
    assert own.status_code == 201, own.text
    assert own.json()["recording_id"] == mine["id"]
    assert (await session_status(http, uid, None, token=token)).status_code == 200

    stranger = new_uid()
    for target in (other["session_uid"], stranger):
        assert (await put_chunk(http, target, 0, data, token=token)).status_code == 404
        body, ctype = vexa_form(session_uid=target, seq=0, data=data)
        assert (await post_form(http, body, ctype, token=token)).status_code == 404
        assert (await session_status(http, target, None, token=token)).status_code == 404
        assert (await finalize(http, target, None, token=token)).status_code == 404
    assert await wire.store.keys(f"_system/sessions/{stranger}") == []
    assert chunk_keys(await wire.store.keys(f"recordings/{user}/"), other["session_uid"]) == []

    done = await finalize(http, uid, None, token=token)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"


# --- malformed input ------------------------------------------------------------------------------


@LOCAL_ONLY
@pytest.mark.parametrize("uid", ["../x", "a" * 200, "a b", "ü", ".hidden"])
@pytest.mark.parametrize("door", DOORS)
async def test_a_malformed_session_uid_is_refused_and_nothing_is_stored(
    wire: Wire, http: httpx.AsyncClient, door: str, uid: str
) -> None:
    user = new_user()
    answer = await send(
        door, http, quote(uid, safe="") if door == "put" else uid, 0, make_wav(0.05), user
    )

    assert answer.status_code in (400, 404), answer.text
    assert await wire.store.keys(f"recordings/{user}/") == []


@LOCAL_ONLY
@pytest.mark.parametrize("seq", ["-1", "abc", str(2**53), "1.5", "1e3", "²", "0x10"])
@pytest.mark.parametrize("door", DOORS)
async def test_a_malformed_seq_is_a_bad_request(
    wire: Wire, http: httpx.AsyncClient, door: str, seq: str
) -> None:
    user, uid = new_user(), new_uid()
    answer = await send(door, http, uid, quote(seq) if door == "put" else seq, make_wav(0.05), user)

    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "invalid_identifier"
    assert await wire.store.keys(f"recordings/{user}/") == []


@LOCAL_ONLY
@pytest.mark.parametrize("door", DOORS)
async def test_an_unknown_format_is_a_bad_request(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    user, uid = new_user(), new_uid()
    answer = await send(door, http, uid, 0, b"fLaC\x00\x00", user, fmt="flac")

    assert answer.status_code == 400, answer.text
    assert await wire.store.keys(f"recordings/{user}/") == []


@LOCAL_ONLY
@pytest.mark.parametrize(
    "metadata,with_file",
    [("{not json", True), ("[1, 2]", True), ('"text"', True), (None, False)],
    ids=["broken-json", "json-list", "json-string", "no-file-part"],
)
async def test_a_malformed_vexa_form_is_a_bad_request(
    wire: Wire, http: httpx.AsyncClient, metadata: str | None, with_file: bool
) -> None:
    user, uid = new_user(), new_uid()
    body, ctype = vexa_form(
        session_uid=uid,
        seq=0,
        data=make_wav(0.05) if with_file else None,
        user_id=user,
        metadata=metadata,
    )

    answer = await post_form(http, body, ctype)

    assert answer.status_code == 400, answer.text
    assert await wire.store.keys(f"recordings/{user}/") == []


def raw_request(wire: Wire, door: str, uid: str, seq: int, data: bytes, user: int) -> bytes:
    """A whole HTTP/1.1 request (head and body) as bytes, to send over a bare socket."""
    if door == "put":
        target = f"/ingest/sessions/{uid}/audio/chunks/{seq}?user_id={user}"
        body, ctype = data, "audio/wav"
    else:
        target = "/internal/recordings/upload"
        body, ctype = vexa_form(session_uid=uid, seq=seq, data=data, user_id=user)
    head = (
        f"{'PUT' if door == 'put' else 'POST'} {target} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize("door", DOORS)
async def test_an_upload_cut_off_mid_body_stores_nothing_and_the_retry_succeeds(
    wire: Wire, http: httpx.AsyncClient, door: str
) -> None:
    user, uid = new_user(), new_uid()
    assert (await send(door, http, uid, 0, make_wav(0.05), user)).status_code == 201
    data = make_wav(2.0, seed=1)
    request = raw_request(wire, door, uid, 1, data, user)
    port = int(wire.url.rsplit(":", 1)[1])

    stream = await anyio.connect_tcp("127.0.0.1", port)
    try:
        await stream.send(request[: len(request) // 2])
        await anyio.sleep(0.2)  # the server is reading the body when the client goes away
    finally:
        await stream.aclose()
    await anyio.sleep(0.5)

    assert list(await held(http, uid, user)) == [0]
    assert await eventually(lambda: _no_partials(wire), within=5)
    retry = await send(door, http, uid, 1, data, user)
    assert retry.status_code == 201, retry.text
    assert await held(http, uid, user) == {0: sha(make_wav(0.05)), 1: sha(data)}


async def _no_partials(wire: Wire) -> bool:
    return await wire.store.partials() == []


# --- replicas and crashes (their own servers) -----------------------------------------------------


async def test_two_servers_sharing_a_bucket_make_one_recording_per_session(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with new_store("seaweedfs", tmp_path, request) as store:
        env = app_env(store.env)
        with app_server(env, tmp_path) as one, app_server(env, tmp_path) as two:
            await first_chunks_race(one.url, two.url, store.view)


async def first_chunks_race(url_a: str, url_b: str, view: StoreView) -> None:
    """Three sessions; each server gets half of every session's chunks, all sent at once."""
    user = new_user()
    sessions = {new_uid(): wav_chunks(6, seed=10 * n) for n in range(3)}
    answers: dict[str, list[httpx.Response]] = {uid: [] for uid in sessions}
    go = anyio.Event()
    async with (
        httpx.AsyncClient(base_url=url_a, timeout=30) as a,
        httpx.AsyncClient(base_url=url_b, timeout=30) as b,
    ):

        async def one(uid: str, seq: int) -> None:
            await go.wait()
            client = a if seq % 2 == 0 else b
            answers[uid].append(await put_chunk(client, uid, seq, sessions[uid][seq], user_id=user))

        async with anyio.create_task_group() as group:
            for uid, chunks in sessions.items():
                for seq in range(len(chunks)):
                    group.start_soon(one, uid, seq)
            await anyio.sleep(0.3)
            go.set()
        for n, uid in enumerate(sessions):
            final = await put_chunk((a, b)[n % 2], uid, 6, b"", user_id=user, final=True)
            assert final.json()["status"] == "completed", final.text

    stored = await view.keys(f"recordings/{user}/")
    manifests = [k for k in stored if k.endswith("/recording.json")]
    assert len(manifests) == len(sessions), manifests
    for uid, chunks in sessions.items():
        assert sorted(r.status_code for r in answers[uid]) == [201] * 6, [
            r.text for r in answers[uid]
        ]
        (rec,) = {r.json()["recording_id"] for r in answers[uid]}
        index = json.loads(await view.read(f"_system/sessions/{uid}.json"))
        assert (index["recording_id"], index["user_id"]) == (rec, user)
        assert len(chunk_keys(stored, uid)) == 7
        assert await view.read(f"recordings/{user}/{rec}/{uid}.wav") == wav_master(chunks)


@pytest.mark.parametrize("kind", WIRE_BACKENDS)
async def test_a_server_killed_mid_session_keeps_every_acknowledged_chunk(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    user, uid = new_user(), new_uid()
    chunks = wav_chunks(40, seconds=0.5, seed=300)
    with new_store(kind, tmp_path, request) as store:
        env = app_env(store.env)
        server = AppServer(env, tmp_path).start()
        try:
            acked = await send_until_killed(server, uid, user, chunks)
        finally:
            server.stop()
        with app_server(env, tmp_path) as restarted:
            await resume_after_crash(restarted.url, store.view, uid, user, chunks, acked)


async def send_until_killed(
    server: AppServer, uid: str, user: int, chunks: list[bytes]
) -> dict[int, str]:
    """Four senders at a time; SIGKILL once ten chunks are acknowledged. seq → acked sha256."""
    acked: dict[int, str] = {}
    limiter = anyio.CapacityLimiter(4)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

        async def one(seq: int) -> None:
            async with limiter:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await put_chunk(http, uid, seq, chunks[seq], user_id=user)
                    if answer.status_code in (200, 201):
                        acked[seq] = answer.json()["sha256"]

        async def ten_acked() -> bool:
            return len(acked) >= 10

        async with anyio.create_task_group() as group:
            for seq in range(len(chunks)):
                group.start_soon(one, seq)
            await eventually(ten_acked, within=30, interval=0.01)
            await to_thread(server.kill)
    assert 10 <= len(acked) < len(chunks), "the kill came too late to test anything"
    return acked


async def resume_after_crash(
    url: str, view: StoreView, uid: str, user: int, chunks: list[bytes], acked: dict[int, str]
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        holds = await held(http, uid, user)
        for seq, digest in acked.items():
            assert holds.get(seq) == digest == sha(chunks[seq]), seq
        for seq, digest in holds.items():  # anything else it holds is whole, never torn
            assert digest == sha(chunks[seq]), seq
        for seq in range(len(chunks)):  # the bot resumes: sends what the server lacks
            if seq not in holds:
                assert (
                    await put_chunk(http, uid, seq, chunks[seq], user_id=user)
                ).status_code == 201
        final = await put_chunk(http, uid, len(chunks), b"", user_id=user, final=True)
        assert final.json()["status"] == "completed", final.text
        rec = final.json()["recording_id"]
    assert await view.read(f"recordings/{user}/{rec}/{uid}.wav") == wav_master(chunks)


# --- limits and faults (their own servers) --------------------------------------------------------

LIMIT = 64 * 1024


async def in_pieces(data: bytes) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), 8192):
        yield data[pos : pos + 8192]


@pytest.mark.parametrize("kind", WIRE_BACKENDS)
async def test_an_oversized_chunk_is_413_on_both_doors_and_nothing_is_stored(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with serving(kind, tmp_path, request, LITE_MAX_CHUNK_BYTES=str(LIMIT)) as found:
        async with httpx.AsyncClient(base_url=found.url, timeout=30) as http:
            user, uid = new_user(), new_uid()
            first = make_wav(0.5)  # 16 KB
            assert (await put_chunk(http, uid, 0, first, user_id=user)).status_code == 201
            big = make_wav(2.5, seed=1)  # 80 KB: over the limit, within the form's allowance
            cases: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                "put with Content-Length": lambda: put_chunk(http, uid, 1, big, user_id=user),
                "put chunked": lambda: put_chunk(http, uid, 1, in_pieces(big), user_id=user),
                "vexa file part": lambda: send("vexa", http, uid, 1, big, user),
            }
            for case, call in cases.items():
                answer = await call()
                assert answer.status_code == 413, (case, answer.text)
                assert await held(http, uid, user) == {0: sha(first)}, case
                assert len(chunk_keys(await found.store.keys(f"recordings/{user}/"), uid)) == 1
                assert await found.store.partials() == [], case


@pytest.mark.parametrize("door", DOORS)
async def test_a_body_far_over_the_limit_still_gets_its_413(
    request: pytest.FixtureRequest, tmp_path: Path, door: str
) -> None:
    # Refused on its Content-Length before the body is read. If the server then closes with the
    # body unread, the kernel resets the connection and the client loses the 413: the bot sees
    # ECONNRESET and retries the same chunk forever.
    huge = canonical_wav_header(6 << 20, 16000, 1, 2) + random.Random(4).randbytes(6 << 20)
    with serving("local", tmp_path, request, LITE_MAX_CHUNK_BYTES=str(LIMIT)) as found:
        async with httpx.AsyncClient(base_url=found.url, timeout=30) as http:
            user, uid = new_user(), new_uid()
            try:
                answer = await send(door, http, uid, 0, huge, user)
            except httpx.TransportError as exc:
                pytest.fail(f"the connection broke instead of a 413 ({exc!r})")
            assert answer.status_code == 413, answer.text
            assert await found.store.keys(f"recordings/{user}/") == []


OUTAGE_CLIENT_TIMEOUT = 15.0  # a bot sends a chunk every 15 s: it must learn of an outage sooner


async def test_unreachable_s3_answers_503_with_retry_after_and_the_retry_is_accepted(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    seaweed: SeaweedServer = request.getfixturevalue("seaweed")
    user, uid = new_user(), new_uid()
    data = make_wav(0.05, seed=1)
    with serving("seaweedfs", tmp_path, request) as found:
        async with httpx.AsyncClient(base_url=found.url, timeout=OUTAGE_CLIENT_TIMEOUT) as http:
            assert (await put_chunk(http, uid, 0, make_wav(0.05), user_id=user)).status_code == 201
            seaweed.pause()
            started = time.monotonic()
            try:
                outage: httpx.Response | None = await put_chunk(http, uid, 1, data, user_id=user)
            except httpx.TimeoutException:
                outage = None
            finally:
                seaweed.resume()
            waited = time.monotonic() - started
        async with httpx.AsyncClient(base_url=found.url, timeout=60) as http:
            retry = await put_chunk(http, uid, 1, data, user_id=user)
            assert retry.status_code in (200, 201), retry.text
            assert (await held(http, uid, user))[1] == sha(data)

    assert outage is not None, f"no answer within {waited:.1f} s while S3 was unreachable"
    assert outage.status_code == 503, outage.text
    assert outage.headers["retry-after"].isdigit()


def mount_tmpfs(path: Path, size: str) -> str:
    """Mount a small tmpfs at path; '' on success, else why not."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=True, capture_output=True)


@pytest.mark.parametrize("door", DOORS)
async def test_a_full_filesystem_answers_507_and_leaves_nothing_partial(
    tmp_path: Path, door: str
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    why = await to_thread(mount_tmpfs, disk, "2m")
    if why:
        pytest.skip(f"cannot mount a tmpfs here ({why})")
    try:
        store = new_store("local", disk)
        env = app_env(store.env)
        view = store.view
        with app_server(env, tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                user, uid = new_user(), new_uid()
                first = make_wav(36, seed=1)  # 1.15 MB of the 2 MiB
                assert (await send(door, http, uid, 0, first, user)).status_code == 201

                full = await send(door, http, uid, 1, make_wav(36, seed=2), user)

                assert full.status_code == 507, full.text
                assert await held(http, uid, user) == {0: sha(first)}
                assert await view.partials() == []
    finally:
        await to_thread(unmount, disk)
