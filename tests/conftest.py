"""Shared fixtures: real S3 servers (SeaweedFS, moto) and stores on every backend, all made by
tests/stores.py: `backend_env`/`settings`/`storage` give each test an empty store; `store` (with
`module_store`) is one store for all of a module's tests, on each backend of `store_backend`.

The developer's environment cannot change what the suite asserts: settings variables and AWS
credential sources are removed before any test runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lite.settings import SETTINGS, Settings, load_settings
from lite.storage.base import Storage
from lite.storage.factory import open_storage
from tests.servers import SeaweedServer
from tests.stores import BACKENDS, Store, new_store

for _name in [s.name for s in SETTINGS] + [n for n in os.environ if n.startswith("AWS_")]:
    os.environ.pop(_name, None)
os.environ.update(
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    AWS_EC2_METADATA_DISABLED="true",
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_buckets() -> Iterator[dict[str, Store]]:
    """One bucket per S3 backend for a module's tests, made on first use: a new bucket and S3
    client per test cost most of a second (botocore loads its service model for each new session;
    SeaweedFS allocates volumes on a bucket's first write)."""
    made: dict[str, Store] = {}
    try:
        yield made
    finally:
        for store in made.values():
            store.close()


@pytest.fixture(params=BACKENDS)
def backend_env(
    request: pytest.FixtureRequest, tmp_path: Path, module_buckets: dict[str, Store]
) -> dict[str, str]:
    """Environment for one empty store of each backend: a new directory, or the module's bucket
    emptied."""
    backend = str(request.param)
    if backend == "local":
        return new_store(backend, tmp_path).env
    if backend not in module_buckets:
        module_buckets[backend] = new_store(backend, tmp_path, request)
    module_buckets[backend].empty()
    return module_buckets[backend].env


@pytest.fixture
def settings(backend_env: dict[str, str]) -> Settings:
    return load_settings(backend_env)


@pytest.fixture(scope="module")
async def module_storages() -> AsyncIterator[dict[tuple[str, str], Storage]]:
    opened: dict[tuple[str, str], Storage] = {}
    try:
        yield opened
    finally:
        for store in opened.values():
            await store.aclose()


@pytest.fixture
async def storage(
    settings: Settings, module_storages: dict[tuple[str, str], Storage]
) -> AsyncIterator[Storage]:
    """The opened store of `backend_env`; an S3 client serves all of a module's tests."""
    if settings.storage_backend == "local":
        local = await open_storage(settings)
        try:
            yield local
        finally:
            await local.aclose()
        return
    where = (settings.s3_endpoint, settings.s3_bucket)
    if where not in module_storages:
        module_storages[where] = await open_storage(settings)
    yield module_storages[where]


@pytest.fixture(scope="module", params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backend of a module's `store`; a module narrows it with a fixture of this name."""
    return str(request.param)


@pytest.fixture(scope="module")
def module_store(
    store_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One fresh store for all of a module's tests on a backend."""
    with new_store(store_backend, tmp_path_factory.mktemp(store_backend), request) as found:
        yield found


@pytest.fixture(scope="module")
async def store(module_store: Store) -> AsyncIterator[Storage]:
    async with module_store.opened() as storage:
        yield storage


@pytest.fixture(scope="session")
def ffprobe() -> str:
    found = shutil.which("ffprobe")
    if not found:
        pytest.skip("ffprobe is not installed (Debian package ffmpeg; `make test` installs it)")
    return found
