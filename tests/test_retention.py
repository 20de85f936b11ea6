"""Retention: the policy, and the pass that deletes expired recordings completely, on local disk
and SeaweedFS, also with two replicas running it at the same moment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from lite import keys, render
from lite.catalog import OPEN_PREFIX
from lite.errors import BadRequest
from lite.leases import LEASES_PREFIX, Leases
from lite.manifest import Manifest
from lite.outbox import OUTBOX_PREFIX
from lite.recordings import RecordingView
from lite.retention import RetentionPolicy, retention_change
from lite.storage.base import Storage
from tests.ingestkit import new_user
from tests.lifecyclekit import Replica
from tests.stores import Store, StoreView

PAST = "2020-01-01T00:00:00Z"


# --- the policy (pure) -------------------------------------------------------------------------


def manifest(**changes: object) -> Manifest:
    made = Manifest(id=1, user_id=1, session_uid="s", created_at="2026-01-01T00:00:00.000Z")
    for name, value in changes.items():
        setattr(made, name, value)
    return made


def test_default_days_count_from_creation() -> None:
    policy = RetentionPolicy(30)
    assert policy.expires_at(manifest()) == datetime(2026, 1, 31, tzinfo=UTC)
    shown = render.recording(RecordingView(manifest(), {}, policy.expires_at(manifest())))
    assert shown["expires_at"] == "2026-01-31T00:00:00.000Z"


def test_no_default_keeps_forever() -> None:
    assert RetentionPolicy(0).expires_at(manifest()) is None
    assert not RetentionPolicy(0).expired(manifest(), datetime(2100, 1, 1, tzinfo=UTC))


def test_explicit_expiry_and_forever_override_the_default() -> None:
    policy = RetentionPolicy(30)
    explicit = manifest(expires_at="2027-05-01T10:00:00.000Z")
    assert policy.expires_at(explicit) == datetime(2027, 5, 1, 10, tzinfo=UTC)
    assert policy.expires_at(manifest(retain_forever=True)) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"expires_at": "2030-01-31T12:00:00Z"}, ("2030-01-31T12:00:00.000Z", False)),
        ({"expires_at": "2030-01-31T12:00:00+02:00"}, ("2030-01-31T10:00:00.000Z", False)),
        ({"expires_at": None}, (None, False)),
        ({"retain": "forever"}, (None, True)),
        ({"retain": "default"}, (None, False)),
        ({"meeting_id": "x"}, None),
    ],
)
def test_retention_change_accepts(body: dict[str, object], expected: object) -> None:
    assert retention_change(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"expires_at": "tomorrow"},
        {"expires_at": 5},
        {"retain": "always"},
        {"retain": "forever", "expires_at": PAST},
        # Valid ISO 8601 that leaves the calendar once in UTC (a 500 until the fuzzer found it).
        {"expires_at": "9999-12-31T23:59:59-23:59"},
        {"expires_at": "0001-01-01T00:00:00+23:00"},
    ],
)
def test_retention_change_refuses(body: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        retention_change(body)


# --- the pass, on real stores ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["local", "seaweedfs"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backends of conftest's `store` for this module."""
    return str(request.param)


@pytest.fixture
def view(module_store: Store) -> StoreView:
    return module_store.view


async def expire_now(replica: Replica, user: int, recording_id: int) -> None:
    await replica.recordings.set_retention(user, recording_id, (PAST, False))


@pytest.mark.anyio
async def test_expired_recordings_are_deleted_completely(store: Storage, view: StoreView) -> None:
    replica = Replica(store)
    user = new_user()
    gone = [await replica.record(user) for _ in range(2)]
    kept = await replica.record(user)
    receiving = await replica.record(user, final=False)  # still receiving chunks
    for index in [*gone, receiving]:
        await expire_now(replica, user, index.recording_id)
    report = await replica.lifecycle.run_once()
    assert sorted(report.expired) == sorted(i.recording_id for i in gone)
    for index in gone:
        assert await view.keys(keys.recording_prefix(user, index.recording_id)) == []
        assert await view.keys(keys.session_index_key(index.session_uid)) == []
    for index in (kept, receiving):
        assert await view.keys(keys.manifest_key(user, index.recording_id))
    assert await view.keys(OPEN_PREFIX + receiving.session_uid)
    listed = await replica.recordings.list(user)
    assert {r.manifest.id for r in listed.recordings} == {kept.recording_id, receiving.recording_id}


@pytest.mark.anyio
async def test_default_retention_applies_and_forever_wins(store: Storage) -> None:
    replica = Replica(store, retention_days=1)
    user = new_user()
    old = await replica.record(user)
    forever = await replica.record(user)
    await replica.recordings.set_retention(user, forever.recording_id, (None, True))
    shown = await replica.recordings.get(user, old.recording_id)
    assert shown.expires_at is not None
    assert (await replica.recordings.get(user, forever.recording_id)).expires_at is None
    report = await replica.lifecycle.run_once(datetime.now(UTC) + timedelta(days=2))
    assert old.recording_id in report.expired
    assert forever.recording_id not in report.expired


@pytest.mark.anyio
async def test_two_replicas_delete_each_recording_once(store: Storage, view: StoreView) -> None:
    first, second = Replica(store), Replica(store)
    user = new_user()
    made = [await first.record(user) for _ in range(4)]
    for index in made:
        await expire_now(first, user, index.recording_id)
    reports = []

    async def run(replica: Replica) -> None:
        reports.append(await replica.lifecycle.run_once())

    async with anyio.create_task_group() as group:
        group.start_soon(run, first)
        group.start_soon(run, second)
    deleted = [rec for report in reports for rec in report.expired]
    assert sorted(deleted) == sorted(i.recording_id for i in made)  # each once, by one of them
    assert await view.keys(keys.user_prefix(user)) == []
    assert [k for k in await view.keys(LEASES_PREFIX) if f"-{user}-" in k] == []
    expired_events = [
        k for k in await view.keys(OUTBOX_PREFIX) if b"recording.expired" in await view.read(k)
    ]
    assert len([k for k in expired_events if str(user).encode() in await view.read(k)]) == 4


@pytest.mark.anyio
async def test_leases_left_by_a_crash_are_swept(store: Storage, view: StoreView) -> None:
    crashed = Leases(store, "crashed")
    assert await crashed.acquire("expire-sweep-test", 1.0) is not None
    assert await Leases(store, "other").acquire("expire-sweep-test", 60) is None  # still held
    await anyio.sleep(1.1)
    assert await Leases(store, "other").acquire("expire-sweep-test", 60) is not None  # ran out
    await Leases(store, "third").sweep("expire-sweep", 0)  # still held by "other": kept
    assert await view.keys(LEASES_PREFIX + "expire-sweep-test")
    await crashed.acquire("expire-sweep-old", 0.01)
    await anyio.sleep(0.05)
    assert await Leases(store, "third").sweep("expire-sweep", 0) == 1
    assert await view.keys(LEASES_PREFIX + "expire-sweep-old") == []
