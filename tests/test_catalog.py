"""Recording metadata in the bucket: session index, manifest CAS, markers, cursors.

Several `Catalog` objects on one store stand for several replicas: each has its own caches, and
only the store's create-if-absent and compare-and-swap keep them consistent.
"""

from __future__ import annotations

import base64

import anyio
import pytest

from lite import ids
from lite.catalog import Catalog, decode_cursor, encode_cursor
from lite.errors import BadRequest, Conflict, PreconditionFailed, ResourceNotFound
from lite.manifest import Manifest, MediaState
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import new_uid, new_user

pytestmark = pytest.mark.anyio


async def keys_under(storage: Storage, prefix: str) -> list[str]:
    return [info.key async for info in storage.list(prefix)]


# --- sessions -------------------------------------------------------------------------------------


async def test_replicas_opening_one_new_session_at_once_make_one_recording(
    store: Storage,
) -> None:
    user, uid = new_user(), new_uid()
    replicas = [Catalog(store) for _ in range(10)]
    opened: list[int] = []

    async def one(catalog: Catalog) -> None:
        opened.append((await catalog.open_session(uid, user, None, "test")).recording_id)

    async with anyio.create_task_group() as group:
        for catalog in replicas:
            group.start_soon(one, catalog)

    assert len(set(opened)) == 1, opened
    assert await replicas[0].recording_ids(user) == [opened[0]]
    manifest, _ = await Catalog(store).load(user, opened[0])
    assert (manifest.session_uid, manifest.user_id, manifest.status) == (uid, user, "in_progress")


async def test_a_session_of_another_user_is_refused(store: Storage) -> None:
    uid = new_uid()
    await Catalog(store).open_session(uid, new_user(), None, "test")
    with pytest.raises(Conflict):
        await Catalog(store).open_session(uid, new_user(), None, "test")


async def test_colliding_recording_ids_still_make_two_recordings(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids carry 12 random bits per millisecond; two sessions can draw the same one. The id is
    # forced here (a collision cannot be produced on demand): §2 says it must not merge them.
    user = new_user()
    drawn = iter([5_000_000_001, 5_000_000_001, 5_000_000_002, 5_000_000_003])
    monkeypatch.setattr(ids, "new_recording_id", lambda now_ms=None: next(drawn))
    catalog = Catalog(store)

    first = await catalog.open_session(new_uid(), user, None, "test")
    second = await catalog.open_session(new_uid(), user, None, "test")

    assert first.recording_id != second.recording_id
    for index in (first, second):
        manifest, _ = await catalog.load(user, index.recording_id)
        assert manifest.session_uid == index.session_uid


async def test_open_sessions_are_listed_until_closed(store: Storage) -> None:
    catalog = Catalog(store)
    uid = new_uid()
    await catalog.open_session(uid, new_user(), None, "test")
    assert uid in await catalog.open_sessions()

    await catalog.mark_closed(uid)

    assert uid not in await catalog.open_sessions()


# --- manifests ------------------------------------------------------------------------------------


async def test_concurrent_updates_from_ten_replicas_are_all_applied(store: Storage) -> None:
    user = new_user()
    index = await Catalog(store).open_session(new_uid(), user, None, "test")

    async def add(catalog: Catalog, n: int) -> None:
        def change(manifest: Manifest) -> None:
            manifest.media[f"kind{n}"] = MediaState(f"kind{n}", n)

        await catalog.update(user, index.recording_id, change)

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(add, Catalog(store), n)

    manifest, _ = await Catalog(store).load(user, index.recording_id)
    assert sorted(manifest.media) == sorted(f"kind{n}" for n in range(10))


async def test_a_stale_etag_never_overwrites(store: Storage) -> None:
    user = new_user()
    catalog = Catalog(store)
    index = await catalog.open_session(new_uid(), user, None, "test")
    _, stale = await catalog.load(user, index.recording_id)
    await catalog.update(user, index.recording_id, lambda m: setattr(m, "meeting_id", "new"))

    with pytest.raises(PreconditionFailed):
        await catalog.writer.put_if_match(
            f"recordings/{user}/{index.recording_id}/recording.json", iter_bytes(b"{}"), stale
        )
    manifest, _ = await catalog.load(user, index.recording_id)
    assert manifest.meeting_id == "new"


async def test_loading_or_updating_a_missing_recording_is_not_found(store: Storage) -> None:
    catalog = Catalog(store)
    with pytest.raises(ResourceNotFound):
        await catalog.load(new_user(), 123)
    with pytest.raises(ResourceNotFound):
        await catalog.update(new_user(), 123, lambda m: None)


# --- listing and deletion -------------------------------------------------------------------------


async def test_recording_ids_are_newest_first_and_skip_stray_names(store: Storage) -> None:
    user = new_user()
    catalog = Catalog(store)
    made = []
    for _ in range(3):
        made.append((await catalog.open_session(new_uid(), user, None, "test")).recording_id)
        await anyio.sleep(0.003)  # ids are time-ordered by the millisecond
    await store.put(f"recordings/{user}/not-a-recording/x.json", iter_bytes(b"{}"))

    assert await catalog.recording_ids(user) == sorted(made, reverse=True)
    assert made == sorted(made)


async def test_delete_removes_every_object_the_index_and_the_marker(store: Storage) -> None:
    user, uid = new_user(), new_uid()
    catalog = Catalog(store)
    index = await catalog.open_session(uid, user, None, "test")
    prefix = f"recordings/{user}/{index.recording_id}/"
    for name in (f"{uid}/audio/chunks/0000000000.wav", f"{uid}.wav", f"{uid}/video/chunks/x"):
        await store.put(prefix + name, iter_bytes(b"data"))

    await catalog.delete(user, index.recording_id)

    assert await keys_under(store, prefix) == []
    assert await keys_under(store, f"_system/sessions/{uid}") == []
    assert uid not in await catalog.open_sessions()
    assert await Catalog(store).session(uid) is None
    with pytest.raises(ResourceNotFound):
        await Catalog(store).load(user, index.recording_id)


async def test_delete_keeps_a_session_index_that_now_names_another_recording(
    store: Storage,
) -> None:
    user, uid = new_user(), new_uid()
    catalog = Catalog(store)
    index = await catalog.open_session(uid, user, None, "test")
    await catalog.delete(user, index.recording_id)
    again = await catalog.open_session(uid, user, None, "test")
    stale = Manifest(index.recording_id, user, uid)
    await store.put(
        f"recordings/{user}/{index.recording_id}/recording.json", iter_bytes(stale.to_json())
    )

    await Catalog(store).delete(user, index.recording_id)

    found = await Catalog(store).session(uid)
    assert found is not None and found.recording_id == again.recording_id


# --- cursors and ids (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize("recording_id", [0, 1, 374353879645598, 2**53 - 1])
def test_a_cursor_decodes_to_the_id_it_was_made_from(recording_id: int) -> None:
    cursor = encode_cursor(recording_id)
    assert decode_cursor(cursor) == recording_id
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor


def _b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "a",
        _b64(b"x123"),
        _b64(b"r"),
        _b64(b"r-5"),
        _b64(b"r12a"),
        _b64(f"r{2**53}".encode()),
        _b64(b"r\xff\xfe"),
        _b64("r²".encode()),
    ],
)
def test_a_malformed_cursor_is_a_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(cursor)


def test_recording_ids_follow_time_and_stay_below_2_to_the_53() -> None:
    now = 1_800_000_000_000
    earlier = [ids.new_recording_id(now) for _ in range(50)]
    later = [ids.new_recording_id(now + 1) for _ in range(50)]
    assert max(earlier) < min(later)
    far = ids.new_recording_id(4_000_000_000_000)  # year 2096
    assert 0 < far < 2**53
