"""The lifecycle over the wire, against real servers: compaction and a late chunk's 410, retention
through PATCH, signed webhooks to a real receiver, a kill -9 before delivery, three replicas.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from lite import keys
from tests.ingestkit import (
    ADMIN,
    api_key,
    app_env,
    bearer,
    eventually,
    new_uid,
    new_user,
    put_chunk,
    wav_chunks,
    wav_master,
)
from tests.lifecyclekit import SECRET, Receiver, receiver_server
from tests.servers import AppServer, app_server
from tests.stores import StoreView, new_store

pytestmark = pytest.mark.anyio


def lifecycle_env(base: dict[str, str], receiver: Receiver, **extra: str) -> dict[str, str]:
    fast = {
        "LITE_WEBHOOK_URL": receiver.url,
        "LITE_WEBHOOK_SECRET": SECRET,
        "LITE_WEBHOOK_ALLOW_PRIVATE": "true",
        "LITE_WEBHOOK_TIMEOUT_SECONDS": "1",
        "LITE_WEBHOOK_RETRY_BASE_MS": "100",
        "LITE_WEBHOOK_POLL_MS": "200",
        "LITE_WEBHOOK_LEASE_SECONDS": "3",
        "LITE_LIFECYCLE_INTERVAL_SECONDS": "1",
        "LITE_KEEP_CHUNKS_HOURS": "0",
        "LITE_COMPACT_SETTLE_SECONDS": "0",
    }
    return app_env(base, **{**fast, **extra})


async def record(http: httpx.AsyncClient, user: int, chunks: list[bytes]) -> tuple[str, int]:
    uid = new_uid()
    for seq, data in enumerate(chunks):
        answer = await put_chunk(http, uid, seq, data, user_id=user, final=seq == len(chunks) - 1)
        assert answer.status_code == 201, answer.text
    return uid, int(answer.json()["recording_id"])


def verified(receiver: Receiver) -> list[dict[str, Any]]:
    """Every accepted delivery, its signature checked with PyPI's standardwebhooks."""
    return [Webhook(SECRET).verify(a["body"], a["headers"]) for a in receiver.accepted()]


@pytest.fixture(scope="module")
def local_base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return new_store("local", tmp_path_factory.mktemp("lifecycle-wire")).env


async def test_compaction_retention_and_events_over_the_wire(
    local_base: dict[str, str], tmp_path: Path
) -> None:
    view = StoreView(local_base)
    chunks = wav_chunks(3)
    with (
        receiver_server([200]) as (receiver, _),
        app_server(lifecycle_env(local_base, receiver), tmp_path) as server,
    ):
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            user = new_user()
            key = {"X-API-Key": await api_key(http, user)}
            uid, rec = await record(http, user, chunks)
            prefix = keys.recording_prefix(user, rec)

            async def compacted() -> bool:
                return not any("/chunks/" in k for k in await view.keys(prefix))

            await eventually(compacted, within=15)
            shown = (await http.get(f"/recordings/{rec}", headers=key)).json()
            media = shown["media_files"][0]
            assert media["compacted_at"] and media["chunk_count"] == 3
            raw = await http.get(f"/recordings/{rec}/media/{media['id']}/raw", headers=key)
            assert raw.content == wav_master(chunks)
            ranged = await http.get(
                f"/recordings/{rec}/media/{media['id']}/raw", headers={**key, "Range": "bytes=0-99"}
            )
            assert ranged.status_code == 206 and ranged.content == raw.content[:100]

            status = await http.get(
                f"/ingest/sessions/{uid}", headers=bearer(), params={"user_id": str(user)}
            )
            audio = status.json()["media"]["audio"]
            assert (audio["chunks"], audio["missing"], audio["compacted"]) == ([], [], True)
            late = await put_chunk(http, uid, 3, wav_chunks(1, seed=9)[0], user_id=user)
            assert late.status_code == 410, late.text
            assert late.json()["error"]["code"] == "recording_sealed"
            assert "sealed" in late.json()["error"]["message"]
            assert await compacted()

            patched = await http.patch(
                f"/recordings/{rec}", json={"expires_at": "2020-01-01T00:00:00Z"}, headers=key
            )
            assert patched.status_code == 200 and patched.json()["expires_at"].startswith("2020")

            async def gone() -> bool:
                answer = await http.get(f"/recordings/{rec}", headers=key)
                return answer.status_code == 404 and await view.keys(prefix) == []

            await eventually(gone, within=15)
            await eventually(lambda: _wait_count(receiver, 2), within=15)
        metrics = (await _get(server, "/metrics")).text
    kinds = {e["type"]: e for e in verified(receiver)}
    assert set(kinds) == {"recording.completed", "recording.expired"}
    assert kinds["recording.completed"]["data"]["id"] == rec
    assert kinds["recording.expired"]["data"]["media_files"][0]["compacted_at"]
    assert 'lite_webhook_deliveries_total{outcome="delivered"} 2.0' in metrics
    assert "lite_recordings_expired_total 1.0" in metrics
    view.close()


async def _wait_count(receiver: Receiver, count: int) -> bool:
    return len(receiver.accepted()) >= count


async def _get(server: AppServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.get(path)


async def test_retention_api_shapes(local_base: dict[str, str], tmp_path: Path) -> None:
    env = app_env(local_base, LITE_RETENTION_DAYS="30")
    with app_server(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            key = {"X-API-Key": await api_key(http, new_user())}
            made = await http.post("/recordings", json={}, headers=key)
            assert made.status_code == 201 and made.json()["expires_at"] is not None
            explicit = await http.post(
                "/recordings", json={"expires_at": "2031-02-03T04:05:06Z"}, headers=key
            )
            assert explicit.json()["expires_at"] == "2031-02-03T04:05:06.000Z"
            rec = made.json()["id"]
            forever = await http.patch(
                f"/recordings/{rec}", json={"retain": "forever"}, headers=key
            )
            assert forever.status_code == 200 and forever.json()["expires_at"] is None
            listed = (await http.get("/recordings", headers=key)).json()["recordings"]
            assert {r["id"]: r["expires_at"] for r in listed}[rec] is None
            for bad in ({"expires_at": "soon"}, {"retain": "always"}, {}):
                answer = await http.patch(f"/recordings/{rec}", json=bad, headers=key)
                assert answer.status_code == 400, answer.text
            other = {"X-API-Key": await api_key(http, new_user())}
            hidden = await http.patch(
                f"/recordings/{rec}", json={"retain": "forever"}, headers=other
            )
            assert hidden.status_code == 404


async def test_admin_webhooks_refuse_loopback_without_the_opt_in(
    local_base: dict[str, str], tmp_path: Path
) -> None:
    admin = {"X-Admin-API-Key": ADMIN}
    with app_server(app_env(local_base), tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            url = "/admin/users/5/webhooks"
            refused = await http.post(url, json={"url": "http://127.0.0.1:9/hook"}, headers=admin)
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "webhook_target_refused"
            assert (await http.get(url, headers=admin)).json() == {"webhooks": []}
            unauthorized = await http.post(url, json={"url": "https://example.com/h"})
            assert unauthorized.status_code == 401


async def test_admin_webhooks_create_list_delete(
    local_base: dict[str, str], tmp_path: Path
) -> None:
    admin = {"X-Admin-API-Key": ADMIN}
    env = app_env(local_base, LITE_WEBHOOK_ALLOW_PRIVATE="true")
    with app_server(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            url = "/admin/users/6/webhooks"
            made = await http.post(url, json={"url": "http://127.0.0.1:9/h"}, headers=admin)
            assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
            listed = (await http.get(url, headers=admin)).json()["webhooks"]
            assert [w["id"] for w in listed] == [made.json()["id"]]
            assert "secret" not in listed[0]
            deleted = await http.delete(f"{url}/{made.json()['id']}", headers=admin)
            assert deleted.status_code == 200
            assert (
                await http.delete(f"{url}/{made.json()['id']}", headers=admin)
            ).status_code == 404


async def test_kill_9_before_delivery_still_delivers_after_restart(
    local_base: dict[str, str], tmp_path: Path
) -> None:
    with receiver_server([500]) as (receiver, _):
        env = lifecycle_env(local_base, receiver, LITE_KEEP_CHUNKS_HOURS="-1")
        server = AppServer(env, tmp_path).start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                _, rec = await record(http, new_user(), wav_chunks(2))
            await eventually(lambda: _wait_attempts(receiver), within=15)
            server.kill()  # kill -9 while the event is still undelivered
            receiver.script[:] = [200]
            server = AppServer(env, tmp_path).start()
            await eventually(lambda: _wait_count(receiver, 1), within=20)
            await anyio.sleep(1)
        finally:
            server.stop()
    [event] = verified(receiver)
    assert event["type"] == "recording.completed" and event["data"]["id"] == rec
    ids = {a["id"] for a in receiver.attempts if _recording_of(a) == rec}
    assert len(ids) == 1  # every attempt, before and after the crash, had one webhook-id


async def _wait_attempts(receiver: Receiver) -> bool:
    return len(receiver.attempts) >= 1


def _recording_of(attempt: dict[str, Any]) -> int:
    return int(json.loads(attempt["body"])["data"]["id"])


@pytest.fixture
def seaweed_base(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    with new_store("seaweedfs", tmp_path_factory.mktemp("replicas"), request) as store:
        yield store.env


async def test_three_replicas_deliver_each_event_once(
    seaweed_base: dict[str, str], tmp_path: Path
) -> None:
    with receiver_server([200]) as (receiver, _):
        env = lifecycle_env(seaweed_base, receiver, LITE_KEEP_CHUNKS_HOURS="-1")
        servers = await start_together([AppServer(env, tmp_path) for _ in range(3)])
        try:
            made = []
            for n in range(3):
                async with httpx.AsyncClient(base_url=servers[n % 3].url, timeout=30) as http:
                    user = new_user()
                    made.append((user, *(await record(http, user, wav_chunks(2)))))
            for user, _, rec in made[:1]:
                async with httpx.AsyncClient(base_url=servers[2].url, timeout=30) as http:
                    key = {"X-API-Key": await api_key(http, user)}
                    assert (await http.delete(f"/recordings/{rec}", headers=key)).status_code == 200
            await eventually(lambda: _wait_count(receiver, 4), within=30)
            await anyio.sleep(2)  # time for any duplicate to show up
        finally:
            async with anyio.create_task_group() as group:
                for server in servers:
                    group.start_soon(in_thread, server.stop)
    events = verified(receiver)
    ids = [a["id"] for a in receiver.accepted()]
    by_event = {(e["type"], e["data"]["id"]) for e in events}
    assert len(by_event) == 4 == len(set(ids))
    assert len(ids) == len(set(ids)), "an event was delivered twice"


async def in_thread(call: Callable[[], object]) -> None:
    await anyio.to_thread.run_sync(call)


async def start_together(servers: list[AppServer]) -> list[AppServer]:
    """Start servers in parallel threads (each start polls until its server answers)."""
    try:
        async with anyio.create_task_group() as group:
            for server in servers:
                group.start_soon(in_thread, server.start)
    except BaseException:
        for server in servers:
            server.stop(grace=5)
        raise
    return servers
