"""The one factory for the tests' stores: a directory, or a bucket on a real S3 server.

`new_store(backend, workdir, request)` makes a fresh, empty store of one backend ("local",
"seaweedfs" or "moto"; the S3 servers are conftest's session fixtures `seaweed` and
`moto_endpoint`, started on first use). The `Store` it returns, a context manager that drops its
bucket on exit, holds everything a test needs of it:

- `env`: the storage settings, for a server subprocess or `load_settings`;
- `opened()`: the in-process backend (`lite.storage`), closed on exit;
- `view`: what is stored, read from the directory or bucket directly (not through `lite.storage`);
- `root`, or `endpoint` and `bucket`: where the data lives;
- `empty()`: back to an empty store, for one bucket shared by a module's tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import pytest

from lite.settings import load_settings
from lite.storage.base import Storage
from lite.storage.factory import open_storage
from tests.servers import SeaweedServer, drop_bucket, empty_bucket, make_bucket, s3_client

if TYPE_CHECKING:
    from lite.storage.s3 import S3Options

BACKENDS = ["local", "seaweedfs", "moto"]


def s3_env(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    """Settings for a bucket on a test server (whose keys are `testing`)."""
    return {
        "STORAGE_BACKEND": "s3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT": endpoint,
        "S3_SECURE": "false",
        **extra,
    }


def local_env(root: Path | str, **extra: str) -> dict[str, str]:
    """Settings for a store in directory `root`."""
    return {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(root), **extra}


def s3_endpoint(backend: str, request: pytest.FixtureRequest) -> str:
    """The session's S3 server for `backend` (started on first use)."""
    if backend == "seaweedfs":
        server: SeaweedServer = request.getfixturevalue("seaweed")
        return server.endpoint
    if backend == "moto":
        return str(request.getfixturevalue("moto_endpoint"))
    raise ValueError(f"{backend!r} is not an S3 test backend (seaweedfs, moto)")


@contextlib.asynccontextmanager
async def opened_storage(env: Mapping[str, str]) -> AsyncIterator[Storage]:
    """The app's storage backend for the settings in `env`, closed on exit."""
    storage = await open_storage(load_settings(env))
    try:
        yield storage
    finally:
        await storage.aclose()


@dataclass
class Store:
    """One test store; `new_store` makes it. `extra` settings ride along in `env`."""

    backend: str
    root: Path | None = None
    endpoint: str = ""
    bucket: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    _view: StoreView | None = field(default=None, repr=False)

    @property
    def env(self) -> dict[str, str]:
        if self.root is not None:
            return local_env(self.root, **self.extra)
        return s3_env(self.endpoint, self.bucket, **self.extra)

    def opened(self) -> contextlib.AbstractAsyncContextManager[Storage]:
        return opened_storage(self.env)

    @property
    def view(self) -> StoreView:
        """A direct reader of the directory or bucket, closed with the store."""
        if self._view is None:
            self._view = StoreView(self.env)
        return self._view

    def empty(self) -> None:
        """Delete everything stored (on S3 also every unfinished multipart upload)."""
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            self.view.empty()

    def close(self) -> None:
        if self._view is not None:
            self._view.close()
            self._view = None
        if self.bucket:
            drop_bucket(self.endpoint, self.bucket)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_store(
    backend: str,
    workdir: Path | None = None,
    request: pytest.FixtureRequest | None = None,
    /,
    *,
    endpoint: str = "",
    public_host: str = "",
    **extra: str,
) -> Store:
    """A fresh, empty store: `workdir`/recordings, or a new bucket on `endpoint` (by default the
    session's server for `backend`, which needs `request`). `public_host`: presigned URLs name it
    instead of 127.0.0.1 (S3_PUBLIC_ENDPOINT), as they would a proxy's public name. `extra`:
    more settings for `env`. Use the store in a `with` block, or close it: that drops the bucket."""
    if backend == "local":
        assert workdir is not None, "a local store needs a directory"
        return Store(backend, root=workdir / "recordings", extra=dict(extra))
    if not endpoint:
        assert request is not None, f"{backend} needs the test's request for its server"
        endpoint = s3_endpoint(backend, request)
    if public_host:
        extra["S3_PUBLIC_ENDPOINT"] = endpoint.replace("127.0.0.1", public_host)
    return Store(backend, endpoint=endpoint, bucket=make_bucket(endpoint), extra=dict(extra))


class StoreView:
    """Reads what a server left in its directory or bucket, without `lite.storage`."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.root = Path(env["LOCAL_STORAGE_DIR"]) if env["STORAGE_BACKEND"] == "local" else None
        self.bucket = env.get("S3_BUCKET", "")
        self._client = None if self.root else s3_client(env["S3_ENDPOINT"])

    @property
    def _s3(self) -> Any:
        assert self._client is not None, "a local store has no S3 client"
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def keys(self, prefix: str = "") -> list[str]:
        """Every published object under prefix (temp and lock files are not objects)."""
        return await anyio.to_thread.run_sync(self._keys, prefix)

    async def read(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self._read, key)

    async def partials(self) -> list[str]:
        """Half-written leftovers: temp files on disk, unfinished multipart uploads in S3."""
        return await anyio.to_thread.run_sync(self._partials)

    def empty(self) -> None:
        empty_bucket(self._s3, self.bucket)

    def _files(self) -> Iterator[tuple[str, bool]]:
        assert self.root is not None
        for directory, _, files in os.walk(self.root):
            for name in files:
                rel = os.path.relpath(os.path.join(directory, name), self.root)
                yield rel.replace(os.sep, "/"), name.startswith(".")

    def _keys(self, prefix: str) -> list[str]:
        if self.root is not None:
            if not self.root.exists():
                return []
            return sorted(k for k, hidden in self._files() if not hidden and k.startswith(prefix))
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            found += [obj["Key"] for obj in page.get("Contents", [])]
        return sorted(found)

    def _read(self, key: str) -> bytes:
        if self.root is not None:
            return (self.root / key).read_bytes()
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _partials(self) -> list[str]:
        if self.root is not None:
            if not self.root.exists():
                return []
            return sorted(
                k
                for k, hidden in self._files()
                if hidden and not k.endswith("/.lock") and k != ".lock"
            )
        uploads = self._s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return sorted(u["Key"] for u in uploads)


def loopback_s3_options(port: int, max_attempts: int) -> S3Options:
    """S3 options for a test server of our own on a loopback port (or none at all), with short
    timeouts so a fault shows within a second."""
    from lite.storage.s3 import S3Options  # botocore only for the tests that use S3

    return S3Options(
        bucket="b",
        endpoint_url=f"http://127.0.0.1:{port}",
        public_endpoint_url=None,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
        path_style=True,
        connect_timeout=1,
        read_timeout=1,
        max_attempts=max_attempts,
    )
