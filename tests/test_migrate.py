"""`vexa-lite migrate`: a store of 200 recordings moved from local disk to SeaweedFS and back,
byte-exact, resumed after a kill -9 without copying anything twice, and served by a server on the
target with the same ids and the same signed URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.ingestkit import ADMIN, SECRET, app_env, new_uid, wav_chunks
from tests.servers import AppServer, SeaweedServer, app_server
from tests.stores import local_env, new_store, s3_env

RECORDINGS = 200
CHUNKS = 2
USERS = (11, 12, 13, 14)


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> Iterator[str]:
    with new_store("seaweedfs", None, request) as store:
        yield store.bucket


async def fill(server: AppServer) -> dict[int, str]:
    """RECORDINGS finished recordings over USERS, through the recorder door; their API keys."""
    limiter = anyio.CapacityLimiter(8)
    chunks = wav_chunks(CHUNKS, seconds=1.0)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:

        async def record(number: int) -> None:
            user, uid = USERS[number % len(USERS)], new_uid()
            async with limiter:
                for seq, chunk in enumerate(chunks):
                    final = {"X-Final": "true"} if seq == CHUNKS - 1 else {}
                    answer = await http.put(
                        f"/ingest/sessions/{uid}/audio/chunks/{seq}",
                        content=chunk,
                        params={"user_id": str(user)},
                        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "audio/wav"}
                        | final,
                    )
                    assert answer.status_code == 201, answer.text

        async with anyio.create_task_group() as group:
            for number in range(RECORDINGS):
                group.start_soon(record, number)
        made = {}
        for user in USERS:
            answer = await http.post(
                f"/admin/users/{user}/api-keys", headers={"X-Admin-API-Key": ADMIN}
            )
            made[user] = answer.json()["key"]
    return made


def listing(url: str, key: str) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    cursor = None
    with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": key}) as http:
        while True:
            page = http.get(
                "/recordings", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
            ).json()
            found.update({rec["id"]: rec for rec in page["recordings"]})
            cursor = page.get("next_cursor")
            if not cursor:
                return found


def migrate(env: dict[str, str], *args: str, kill_after: int | None = None) -> list[dict[str, Any]]:
    """Run the command with --json; with kill_after, SIGKILL it after that many object lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lite", "migrate", *args, "--json"],
        env={**os.environ, **env},
        cwd=Path(env["LOCAL_STORAGE_DIR"]).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(json.loads(line))
        if kill_after is not None and len(lines) >= kill_after:
            process.send_signal(signal.SIGKILL)
            break
    process.stdout.close()
    stderr = process.stderr.read() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    code = process.wait(60)
    if kill_after is None:
        assert code == 0, stderr
    else:
        assert code == -signal.SIGKILL
    return lines


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


def without_etags(payload: bytes) -> Any:
    document = json.loads(payload)
    for state in document.get("media", {}).values():
        state.pop("master_etag", None)
        state.pop("fingerprint", None)
    return document


@pytest.mark.timeout(300)
def test_migrate_to_seaweedfs_and_back(seaweed: SeaweedServer, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "source" / "recordings"
    local = local_env(source)
    with app_server(app_env(local, LOCAL_STORAGE_FSYNC="false"), tmp_path) as server:
        api_keys = anyio.run(fill, server)
        before = {user: listing(server.url, key) for user, key in api_keys.items()}
        some = next(iter(before[USERS[0]].values()))
        media = some["media_files"][0]["id"]
        with httpx.Client(base_url=server.url, headers={"X-API-Key": api_keys[USERS[0]]}) as http:
            signed = http.get(f"/recordings/{some['id']}/media/{media}/download").json()["url"]
            original = http.get(signed).content
    assert sum(len(found) for found in before.values()) == RECORDINGS
    assert all(rec["status"] == "completed" for found in before.values() for rec in found.values())

    s3 = s3_env(seaweed.endpoint, bucket)
    env = {**s3, "LOCAL_STORAGE_DIR": str(source)}
    everything = set(tree(source))
    first = migrate(env, "--from", "local", "--to", "s3", kill_after=len(everything) // 2)
    second = migrate(env, "--from", "local", "--to", "s3")
    copied_first = {line["key"] for line in first if line.get("action") == "copied"}
    copied_second = {line["key"] for line in second if line.get("action") == "copied"}
    skipped_second = {line["key"] for line in second if line.get("action") == "skipped"}
    assert copied_first and copied_second
    assert not copied_first & copied_second, "copied twice"
    assert copied_first | copied_second | skipped_second == everything
    assert second[-1]["summary"]["problems"] == []

    with app_server(app_env(s3), tmp_path) as target:
        after = {user: listing(target.url, key) for user, key in api_keys.items()}
        assert {u: set(found) for u, found in after.items()} == {
            u: set(found) for u, found in before.items()
        }
        assert httpx.get(target.url + signed).content == original  # the source's signed URL

    back = tmp_path / "back" / "recordings"
    migrate({**s3, "LOCAL_STORAGE_DIR": str(back)}, "--from", "s3", "--to", "local")
    there, returned = tree(source), tree(back)
    assert set(there) == set(returned)
    for name, payload in there.items():
        if name.endswith("recording.json"):
            assert without_etags(payload) == without_etags(returned[name]), name
        else:
            assert payload == returned[name], name
