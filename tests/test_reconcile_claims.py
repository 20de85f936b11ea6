"""Reconcilers of several replicas finalize an idle session once: the first to create the claim
object wins; a claim left by a replica that died is taken over one idle period later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from lite.catalog import Catalog
from lite.ingest import ChunkIn, IngestService, Uploader
from lite.reconciler import CLAIMS_PREFIX, Reconciler
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import new_uid, new_user, wav_chunks

pytestmark = pytest.mark.anyio
IDLE = 600


@pytest.fixture(scope="module", params=["local", "seaweedfs"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backends of conftest's `store` for this module."""
    return str(request.param)


def reconciler(store: Storage) -> Reconciler:
    """One replica's reconciler, with its own catalog and caches."""
    catalog = Catalog(store)
    return Reconciler(catalog, IngestService(store, catalog, 1 << 26), IDLE)


async def open_session(store: Storage) -> Any:
    catalog = Catalog(store)
    ingest = IngestService(store, catalog, 1 << 26)
    uid, user = new_uid(), new_user()
    for seq, data in enumerate(wav_chunks(3)):
        await ingest.receive(
            Uploader(user), ChunkIn(uid, "audio", seq, "wav", iter_bytes(data)), "test"
        )
    return await catalog.session(uid)


async def claims(store: Storage, uid: str) -> list[str]:
    return [info.key async for info in store.list(f"{CLAIMS_PREFIX}{uid}/")]


async def test_three_replicas_at_once_finalize_an_idle_session_once(store: Storage) -> None:
    index = await open_session(store)
    replicas = [reconciler(store) for _ in range(3)]
    moment = datetime.now(UTC) + timedelta(seconds=IDLE + 5)
    finished: list[list[str]] = []

    async def run(replica: Reconciler) -> None:
        finished.append(await replica.run_once(moment))

    async with anyio.create_task_group() as group:
        for replica in replicas:
            group.start_soon(run, replica)

    assert sum(index.session_uid in uids for uids in finished) == 1
    assert await claims(store, index.session_uid) == []
    manifest, _ = await replicas[0].catalog.load(index.user_id, index.recording_id)
    assert manifest.status == "completed"


async def test_a_claim_of_a_replica_that_died_is_taken_over_one_idle_period_later(
    store: Storage,
) -> None:
    index = await open_session(store)
    replica = reconciler(store)
    last = await replica.last_activity(index)
    dead = f"{CLAIMS_PREFIX}{index.session_uid}/{int(last.timestamp() * 1000)}-1"
    await store.put(dead, iter_bytes(b""))

    assert await replica.run_once(last + timedelta(seconds=IDLE + 5)) == []
    assert await replica.run_once(last + timedelta(seconds=2 * IDLE + 5)) == [index.session_uid]

    assert await claims(store, index.session_uid) == []
