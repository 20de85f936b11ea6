"""Cheaper `backend_env` and `storage` for suites with many small tests on every backend.

conftest's fixtures make a new bucket and open a new S3 client per test, which costs most of a
second on the S3 backends (fresh botocore sessions load the service model: 0.2-0.6 s; SeaweedFS
allocates volumes on a new bucket's first write). These keep one bucket and one opened
S3Storage per server for a module and empty the bucket before every test, so each test still
starts from an empty store. Import them into a test module to override conftest's:

    from tests.helpers.stores import (  # noqa: F401 - fixtures named backend_env and storage
        emptied_backend_env,
        shared_bucket,
        shared_storage,
        shared_stores,
    )
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lite.settings import Settings
from lite.storage.base import Storage
from lite.storage.factory import open_storage
from tests.conftest import BACKENDS, s3_env
from tests.servers import SeaweedServer, make_bucket, s3_client


class SharedBucket:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.bucket = make_bucket(endpoint)
        self.client: Any = s3_client(endpoint)

    def empty(self) -> None:
        """Delete every object and abort every unfinished multipart upload."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        for page in pages:
            batch = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if batch:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        for upload in uploads:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )

    def close(self) -> None:
        try:
            self.empty()
            self.client.delete_bucket(Bucket=self.bucket)
        finally:
            self.client.close()


@pytest.fixture(scope="module")
def shared_bucket() -> Iterator[dict[str, SharedBucket]]:
    """One bucket per S3 server, made on first use and dropped at the end of the module."""
    made: dict[str, SharedBucket] = {}
    try:
        yield made
    finally:
        for bucket in made.values():
            bucket.close()


@pytest.fixture(name="backend_env", params=BACKENDS)
def emptied_backend_env(
    request: pytest.FixtureRequest, tmp_path: Path, shared_bucket: dict[str, SharedBucket]
) -> dict[str, str]:
    """Environment for one empty store of each backend (same ids as conftest's)."""
    if request.param == "local":
        return {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path / "recordings")}
    if request.param not in shared_bucket:
        server = request.getfixturevalue(
            "seaweed" if request.param == "seaweedfs" else "moto_endpoint"
        )
        endpoint = server.endpoint if isinstance(server, SeaweedServer) else str(server)
        shared_bucket[request.param] = SharedBucket(endpoint)
    bucket = shared_bucket[request.param]
    bucket.empty()
    return s3_env(bucket.endpoint, bucket.bucket)


@pytest.fixture(scope="module")
async def shared_stores() -> AsyncIterator[dict[tuple[str, str], Storage]]:
    opened: dict[tuple[str, str], Storage] = {}
    try:
        yield opened
    finally:
        for store in opened.values():
            await store.aclose()


@pytest.fixture(name="storage")
async def shared_storage(
    settings: Settings, shared_stores: dict[tuple[str, str], Storage]
) -> AsyncIterator[Storage]:
    """An opened store on the (empty) backend of `backend_env`; S3 clients live per module."""
    if settings.storage_backend == "local":
        local = await open_storage(settings)
        try:
            yield local
        finally:
            await local.aclose()
        return
    where = (settings.s3_endpoint, settings.s3_bucket)
    if where not in shared_stores:
        shared_stores[where] = await open_storage(settings)
    yield shared_stores[where]
