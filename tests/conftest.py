"""Shared fixtures: real S3 servers (SeaweedFS, moto) and one storage per backend.

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
from tests.servers import SeaweedServer, drop_bucket, make_bucket

for _name in [s.name for s in SETTINGS] + [n for n in os.environ if n.startswith("AWS_")]:
    os.environ.pop(_name, None)
os.environ.update(
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    AWS_EC2_METADATA_DISABLED="true",
)

BACKENDS = ["local", "seaweedfs", "moto"]


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


def s3_env(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "s3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT": endpoint,
        "S3_SECURE": "false",
        **extra,
    }


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for one fresh, empty store of each backend."""
    if request.param == "local":
        yield {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path / "recordings")}
        return
    fixture = "seaweed" if request.param == "seaweedfs" else "moto_endpoint"
    server = request.getfixturevalue(fixture)
    endpoint = server.endpoint if isinstance(server, SeaweedServer) else server
    bucket = make_bucket(endpoint)
    try:
        yield s3_env(endpoint, bucket)
    finally:
        drop_bucket(endpoint, bucket)


@pytest.fixture
def settings(backend_env: dict[str, str]) -> Settings:
    return load_settings(backend_env)


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    opened = await open_storage(settings)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture(scope="session")
def ffprobe() -> str:
    found = shutil.which("ffprobe")
    if not found:
        pytest.skip("ffprobe is not installed (Debian package ffmpeg; `make test` installs it)")
    return found
