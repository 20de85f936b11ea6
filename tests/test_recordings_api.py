"""The recordings API in process: create, read, list with cursors, master, delete.

One app per backend (local disk, SeaweedFS) for the module, driven through httpx's ASGI
transport (tests/inproc.py); every test has its own users.
The 120 recordings of the listing tests are made at the service level in the same store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest

from lite.catalog import Catalog
from lite.ingest import ChunkIn, IngestService, Uploader
from lite.recordings import Recordings
from lite.storage.base import iter_bytes
from tests.ingestkit import api_key, app_env, new_uid, new_user, put_chunk, wav_chunks
from tests.inproc import inproc_client
from tests.mediafiles import make_wav
from tests.stores import StoreView, new_store, opened_storage

pytestmark = pytest.mark.anyio
# Request validation happens before storage is touched: one backend is enough for it.
LOCAL_ONLY = pytest.mark.parametrize("api", ["local"], indirect=True)

RECORDING_FIELDS = {
    "id",
    "meeting_id",
    "user_id",
    "session_uid",
    "source",
    "status",
    "error_message",
    "created_at",
    "completed_at",
    "expires_at",
    "media_files",
    "playback_url",  # Vexa's dashboard plays `playback_url.audio`
}
MEDIA_FIELDS = {
    "id",
    "type",
    "format",
    "content_type",
    "file_size_bytes",
    "duration_seconds",
    "sha256",
    "chunk_count",
    "missing_chunks",
    "problems",
    "created_at",
    "finalized_at",
    "storage_path",  # Vexa's field: the master's object key
    "storage_backend",  # Vexa's field: local, minio or s3
    "compacted_at",
}


@dataclass
class Api:
    env: dict[str, str]
    http: httpx.AsyncClient
    store: StoreView


@pytest.fixture(scope="module", params=["local", "seaweedfs"])
async def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    with new_store(request.param, tmp, request) as store:
        env = app_env(store.env)
        async with inproc_client(env) as http:
            yield Api(env, http, store.view)


@pytest.fixture
def http(api: Api) -> httpx.AsyncClient:
    return api.http


class User:
    """A user with an API key, talking to the server."""

    def __init__(self, http: httpx.AsyncClient, user_id: int, key: str) -> None:
        self.http = http
        self.id = user_id
        self.headers = {"X-API-Key": key}

    @classmethod
    async def new(cls, http: httpx.AsyncClient) -> User:
        user_id = new_user()
        return cls(http, user_id, await api_key(http, user_id))

    async def create(self, **body: Any) -> dict[str, Any]:
        answer = await self.http.post("/recordings", json=body, headers=self.headers)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers)

    async def delete(self, recording_id: int, **params: str) -> httpx.Response:
        return await self.http.delete(
            f"/recordings/{recording_id}", headers=self.headers, params=params
        )

    async def record(self, chunks: list[bytes]) -> dict[str, Any]:
        """A completed recording: chunks through its upload token, then the empty final one."""
        made = await self.create()
        uid, token = made["session_uid"], made["upload_token"]
        for seq, data in enumerate(chunks):
            assert (await put_chunk(self.http, uid, seq, data, token=token)).status_code == 201
        done = await put_chunk(self.http, uid, len(chunks), b"", token=token, final=True)
        assert done.json()["status"] == "completed", done.text
        return made


# --- create and read ------------------------------------------------------------------------------


async def test_create_returns_the_recording_and_an_upload_token(
    api: Api, http: httpx.AsyncClient
) -> None:
    user = await User.new(http)

    made = await user.create(meeting_id="m-7")

    assert set(made) >= RECORDING_FIELDS
    assert (made["user_id"], made["meeting_id"], made["status"]) == (user.id, "m-7", "in_progress")
    assert made["media_files"] == []
    assert made["upload_token"] and made["upload_url"].endswith(
        f"/ingest/sessions/{made['session_uid']}"
    )
    assert 0 < made["id"] < 2**53
    got = await user.get(f"/recordings/{made['id']}")
    assert got.status_code == 200
    assert {k: v for k, v in made.items() if not k.startswith("upload_")} == got.json()


async def test_create_with_a_session_uid_in_use_is_409(api: Api, http: httpx.AsyncClient) -> None:
    user = await User.new(http)
    uid = new_uid()
    await user.create(session_uid=uid)

    again = await http.post("/recordings", json={"session_uid": uid}, headers=user.headers)

    assert again.status_code == 409, again.text


@LOCAL_ONLY
@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"meeting_id": {"a": 1}}', b'{"session_uid": "../x"}'],
    ids=["not-json", "json-list", "meeting-id-object", "bad-session-uid"],
)
async def test_create_with_a_bad_body_is_400(
    api: Api, http: httpx.AsyncClient, body: bytes
) -> None:
    user = await User.new(http)
    answer = await http.post("/recordings", content=body, headers=user.headers)
    assert answer.status_code == 400, answer.text
    assert await api.store.keys(f"recordings/{user.id}/") == []


async def test_a_recording_shows_no_internal_fields(api: Api, http: httpx.AsyncClient) -> None:
    user = await User.new(http)
    made = await user.record(wav_chunks(3))

    answer = await user.get(f"/recordings/{made['id']}")

    recording = answer.json()
    assert set(recording) == RECORDING_FIELDS
    (audio,) = recording["media_files"]
    assert MEDIA_FIELDS <= set(audio) <= MEDIA_FIELDS | {"status"}
    assert "_system" not in answer.text and "chunks/" not in answer.text
    assert audio["storage_path"] == f"recordings/{user.id}/{made['id']}/{made['session_uid']}.wav"
    assert recording["playback_url"] == {
        "audio": f"/recordings/{made['id']}/master?type=audio",
        "video": None,
    }
    assert (audio["chunk_count"], audio["format"], recording["status"]) == (4, "wav", "completed")


async def test_raw_of_a_lost_master_is_404_for_get_and_head_alike(
    api: Api, http: httpx.AsyncClient
) -> None:
    user = await User.new(http)
    made = await user.record(wav_chunks(2))
    master = (await user.get(f"/recordings/{made['id']}/master", type="audio")).json()
    raw = f"/recordings/{made['id']}/media/{master['media_file_id']}/raw"
    assert (await http.head(raw, headers=user.headers)).status_code == 200
    assert (await http.get(raw, headers=user.headers)).status_code == 200
    async with opened_storage(api.env) as storage:
        await storage.delete(f"recordings/{user.id}/{made['id']}/{made['session_uid']}.wav")

    got = await http.get(raw, headers=user.headers)
    head = await http.head(raw, headers=user.headers)
    ranged = await http.get(raw, headers={**user.headers, "Range": "bytes=0-3"})
    unchanged = await http.get(
        raw, headers={**user.headers, "If-None-Match": f'"{master["sha256"]}"'}
    )

    assert [got.status_code, head.status_code, ranged.status_code, unchanged.status_code] == [
        404
    ] * 4
    assert got.json() == {
        "error": {"code": "not_found", "message": "not found"},
        "detail": "not found",
    }
    assert "recordings/" not in got.text and ".wav" not in got.text


async def test_the_master_of_a_completed_recording_points_at_its_raw_bytes(
    api: Api, http: httpx.AsyncClient
) -> None:
    user = await User.new(http)
    made = await user.record(wav_chunks(3, seconds=0.5))

    answer = await user.get(f"/recordings/{made['id']}/master", type="audio")

    assert answer.status_code == 200, answer.text
    master = answer.json()
    assert master["id"] == master["recording_id"] == made["id"]  # Vexa's shape
    media_id = master["media_file_id"]
    assert master["raw_url"].endswith(f"/recordings/{made['id']}/media/{media_id}/raw")
    assert master["storage_path"] == f"recordings/{user.id}/{made['id']}/{made['session_uid']}.wav"
    assert master["duration_seconds"] == pytest.approx(1.5)
    raw = await user.get(master["raw_url"])
    assert raw.status_code == 200 and len(raw.content) == master["file_size_bytes"]


async def test_during_the_meeting_the_master_is_what_has_arrived(
    api: Api, http: httpx.AsyncClient
) -> None:
    """Like Vexa's meeting-api (and `/raw`): the master lookup answers while chunks arrive."""
    user = await User.new(http)
    made = await user.create()
    await put_chunk(http, made["session_uid"], 0, make_wav(0.05), token=made["upload_token"])

    answer = await user.get(f"/recordings/{made['id']}/master", type="audio")
    assert answer.status_code == 200, answer.text
    master = answer.json()
    assert (master["id"], master["status"], master["storage_path"]) == (
        made["id"],
        "in_progress",
        None,
    )
    raw = await user.get(master["raw_url"])
    assert raw.status_code == 200 and raw.content.startswith(b"RIFF")
    for kind, status in (("video", 404), ("../x", 400)):
        answer = await user.get(f"/recordings/{made['id']}/master", type=kind)
        assert answer.status_code == status, (kind, answer.text)


# --- who sees what --------------------------------------------------------------------------------


async def test_a_user_cannot_read_list_or_delete_another_users_recording(
    api: Api, http: httpx.AsyncClient
) -> None:
    alice, bob = await User.new(http), await User.new(http)
    made = await bob.record(wav_chunks(2))
    rec = made["id"]

    assert (await alice.get(f"/recordings/{rec}")).status_code == 404
    assert (await alice.get(f"/recordings/{rec}/master", type="audio")).status_code == 404
    assert (await alice.delete(rec)).status_code == 404
    assert (await alice.get("/recordings")).json()["recordings"] == []

    assert (await bob.get(f"/recordings/{rec}")).json()["status"] == "completed"
    assert [r["id"] for r in (await bob.get("/recordings")).json()["recordings"]] == [rec]


@LOCAL_ONLY
@pytest.mark.parametrize("key", [None, "vxl_not-a-key", ""])
@pytest.mark.parametrize("call", ["list", "get", "create", "delete", "master"])
async def test_a_missing_or_unknown_api_key_is_401(
    api: Api, http: httpx.AsyncClient, key: str | None, call: str
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    requests = {
        "list": ("GET", "/recordings"),
        "get": ("GET", "/recordings/123"),
        "create": ("POST", "/recordings"),
        "delete": ("DELETE", "/recordings/123"),
        "master": ("GET", "/recordings/123/master"),
    }
    method, path = requests[call]
    answer = await http.request(method, path, headers=headers)
    assert answer.status_code == 401, answer.text


async def test_delete_leaves_no_object_and_no_session_index(
    api: Api, http: httpx.AsyncClient
) -> None:
    user = await User.new(http)
    made = await user.record(wav_chunks(3))
    rec, uid = made["id"], made["session_uid"]
    prefix = f"recordings/{user.id}/{rec}/"
    made_keys = [k for k in await api.store.keys(prefix) if not k.endswith(".peaks.json")]
    assert len(made_keys) == 6  # 4 chunks, master, manifest (and peaks, made in the background)

    answer = await user.delete(rec)

    assert answer.status_code == 200, answer.text
    assert await api.store.keys(prefix) == []
    assert await api.store.keys(f"_system/sessions/{uid}") == []
    assert await api.store.keys(f"_system/open-sessions/{uid}") == []
    assert (await user.get(f"/recordings/{rec}")).status_code == 404
    assert (await user.delete(rec)).status_code == 404
    assert (await user.get("/recordings")).json()["recordings"] == []


async def test_delete_of_a_recording_in_progress_removes_its_chunks(
    api: Api, http: httpx.AsyncClient
) -> None:
    user = await User.new(http)
    made = await user.create()
    for seq, data in enumerate(wav_chunks(3)):
        await put_chunk(http, made["session_uid"], seq, data, token=made["upload_token"])

    refused = await user.delete(made["id"])  # a bot may still be sending: Vexa's 409
    assert refused.status_code == 409, refused.text
    assert "force=true" in refused.json()["error"]["message"]
    answer = await user.delete(made["id"], force="true")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "deleted" and answer.json()["id"] == made["id"]

    assert await api.store.keys(f"recordings/{user.id}/") == []
    assert await api.store.keys(f"_system/sessions/{made['session_uid']}") == []


# --- listing --------------------------------------------------------------------------------------

MEETINGS = ("m-0", "m-1", "m-2")


@dataclass
class Listed:
    user_id: int
    created: list[int]  # in creation order
    meeting: dict[int, str]
    failed: set[int]
    completed: set[int]


@pytest.fixture(scope="module")
async def listed(api: Api) -> Listed:
    """120 recordings of one user, made at the service level: meetings m-0/1/2 in turn,
    10 failed (finalized without media), 5 completed."""
    user = new_user()
    made = Listed(user, [], {}, set(), set())
    async with opened_storage(api.env) as storage:
        catalog = Catalog(storage)
        recordings = Recordings(storage, catalog)
        ingest = IngestService(storage, catalog, 1024 * 1024)
        for n in range(120):
            index = await recordings.create(user, MEETINGS[n % 3], None)
            made.created.append(index.recording_id)
            made.meeting[index.recording_id] = MEETINGS[n % 3]
            if n % 12 == 5:
                await ingest.finalize(index)
                made.failed.add(index.recording_id)
            elif n % 24 == 7:
                chunk = ChunkIn(index.session_uid, "audio", 0, "wav", iter_bytes(make_wav(0.05)))
                await ingest.receive(Uploader(user), chunk, source="test")
                await ingest.finalize(index)
                made.completed.add(index.recording_id)
            await anyio.sleep(0.002)  # ids are time-ordered by the millisecond
    return made


async def pages(user: User, limit: int = 50, **filters: str) -> list[list[dict[str, Any]]]:
    """Every page of the listing, following next_cursor (at most 10 pages)."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": limit, **filters}
        if cursor:
            params["cursor"] = cursor
        answer = await user.get("/recordings", **params)
        assert answer.status_code == 200, answer.text
        found.append(answer.json()["recordings"])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the listing never ended")


async def owner(http: httpx.AsyncClient, listed: Listed) -> User:
    return User(http, listed.user_id, await api_key(http, listed.user_id))


async def test_120_recordings_come_in_pages_of_50_newest_first(
    listed: Listed, http: httpx.AsyncClient
) -> None:
    user = await owner(http, listed)

    found = await pages(user)

    assert [len(p) for p in found] == [50, 50, 20]
    ids = [r["id"] for page in found for r in page]
    assert ids == list(reversed(listed.created))
    stamps = [r["created_at"] for page in found for r in page]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("meeting", MEETINGS)
async def test_the_meeting_id_filter_lists_that_meeting_only(
    listed: Listed, http: httpx.AsyncClient, meeting: str
) -> None:
    user = await owner(http, listed)

    found = [r for page in await pages(user, limit=15, meeting_id=meeting) for r in page]

    expected = [i for i in reversed(listed.created) if listed.meeting[i] == meeting]
    assert [r["id"] for r in found] == expected
    assert {r["meeting_id"] for r in found} == {meeting}


@pytest.mark.parametrize("status", ["in_progress", "completed", "failed"])
async def test_the_status_filter_lists_that_status_only(
    listed: Listed, http: httpx.AsyncClient, status: str
) -> None:
    user = await owner(http, listed)
    groups = {"completed": listed.completed, "failed": listed.failed}
    others = listed.completed | listed.failed
    expected = [
        i
        for i in reversed(listed.created)
        if (i in groups[status] if status in groups else i not in others)
    ]

    found = [r for page in await pages(user, status=status) for r in page]

    assert [r["id"] for r in found] == expected
    assert {r["status"] for r in found} == {status}


async def test_filters_combine(listed: Listed, http: httpx.AsyncClient) -> None:
    user = await owner(http, listed)
    found = [r for page in await pages(user, meeting_id="m-2", status="failed") for r in page]
    expected = [i for i in reversed(listed.created) if i in listed.failed]
    expected = [i for i in expected if listed.meeting[i] == "m-2"]
    assert [r["id"] for r in found] == expected and expected


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@LOCAL_ONLY
@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "201"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"cursor": "!!!"},
        {"cursor": _cursor("x123")},
        {"cursor": _cursor("r-4")},
        {"status": "done"},
    ],
    ids=json.dumps,
)
async def test_a_bad_limit_cursor_or_status_is_400(
    api: Api, http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    user = await User.new(http)
    answer = await user.get("/recordings", **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"]


async def test_offset_pages_like_vexa(listed: Listed, http: httpx.AsyncClient) -> None:
    user = await owner(http, listed)
    everything = [r for page in await pages(user, limit=200) for r in page]
    answer = await user.get("/recordings", limit="4", offset="3")
    assert answer.status_code == 200, answer.text
    assert [r["id"] for r in answer.json()["recordings"]] == [r["id"] for r in everything[3:7]]
    assert (await user.get("/recordings", offset="-1")).status_code == 400
