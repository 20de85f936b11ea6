"""The S3 backend on real servers: multipart, aborted uploads, presigned URLs, outages.

One bucket per server for the whole module (every test writes under its own key prefix), since a
fresh bucket costs most of a second on SeaweedFS.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import anyio.to_thread
import httpx
import pytest

from lite.settings import load_settings
from lite.storage.base import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    Presigner,
    Unavailable,
    iter_bytes,
)
from lite.storage.factory import open_storage, s3_options
from lite.storage.s3 import S3Options, S3Storage
from lite.storage.s3parts import PART_SIZE
from tests.servers import drop_bucket, free_ports, s3_client
from tests.stores import loopback_s3_options, new_store

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
SERVERS = ["seaweedfs", "moto"]


@pytest.fixture(scope="module", params=SERVERS)
def bucket_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    with new_store(request.param, None, request) as store:
        yield store.env


@pytest.fixture(scope="module")
async def store(bucket_env: dict[str, str]) -> AsyncIterator[S3Storage]:
    opened = await open_storage(load_settings(bucket_env))
    assert isinstance(opened, S3Storage)
    await opened.put("warm", iter_bytes(b"w"))  # SeaweedFS's first write into a bucket is slow
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def key() -> str:
    return f"t/{uuid.uuid4().hex}"


def server_of(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["bucket_env"])


@pytest.fixture
def seaweed_only(request: pytest.FixtureRequest) -> None:
    if server_of(request) != "seaweedfs":
        pytest.skip("moto does not check presigned signatures or expiry")


def client_of(store: S3Storage) -> Any:
    assert store.options.endpoint_url
    return s3_client(store.options.endpoint_url)


def unfinished_uploads(store: S3Storage, key: str) -> list[dict[str, Any]]:
    client = client_of(store)
    try:
        found = client.list_multipart_uploads(Bucket=store.bucket, Prefix=key)
    finally:
        client.close()
    return list(found.get("Uploads", []))


async def pieces(data: bytes, size: int = MIB + 17) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(store: S3Storage, key: str) -> bytes:
    reader = await store.open_range(key)
    try:
        return b"".join([chunk async for chunk in reader])
    finally:
        await reader.aclose()


# --- multipart ------------------------------------------------------------------------------------


async def test_a_put_larger_than_one_part_is_a_multipart_upload_of_equal_parts(
    store: S3Storage, key: str
) -> None:
    data = os.urandom(20 * MIB)
    info = await store.put(key, pieces(data))
    assert info.etag.endswith("-3")  # 8 + 8 + 4 MiB
    assert (await store.stat(key)).etag == info.etag
    client = client_of(store)
    try:
        first = client.head_object(Bucket=store.bucket, Key=key, PartNumber=1)
        second = client.head_object(Bucket=store.bucket, Key=key, PartNumber=2)
    finally:
        client.close()
    assert first["PartsCount"] == 3
    assert first["ContentLength"] == second["ContentLength"] == PART_SIZE
    assert await read(store, key) == data
    assert unfinished_uploads(store, key) == []


async def test_a_put_within_one_part_is_a_single_put_object(store: S3Storage, key: str) -> None:
    data = os.urandom(PART_SIZE - 1)
    info = await store.put(key, pieces(data))
    assert "-" not in info.etag
    assert await read(store, key) == data


async def test_put_if_absent_of_a_multipart_object_on_an_existing_key_is_already_exists(
    store: S3Storage, key: str
) -> None:
    await store.put(key, iter_bytes(b"first"))
    with pytest.raises(AlreadyExists):
        await store.put_if_absent(key, pieces(os.urandom(20 * MIB)))
    assert await read(store, key) == b"first"
    assert unfinished_uploads(store, key) == []


async def test_put_if_absent_of_a_multipart_object_on_a_new_key_stores_it(
    store: S3Storage, key: str
) -> None:
    data = os.urandom(PART_SIZE + MIB)
    info = await store.put_if_absent(key, pieces(data))
    assert info.etag.endswith("-2")
    assert await read(store, key) == data


async def test_put_if_match_of_a_multipart_object_with_a_stale_etag_fails(
    store: S3Storage, key: str, request: pytest.FixtureRequest
) -> None:
    if server_of(request) == "moto":
        request.applymarker(
            pytest.mark.xfail(
                reason="moto ignores If-Match on CompleteMultipartUpload", strict=True
            )
        )
    stale = await store.put(key, iter_bytes(b"v1"))
    await store.put(key, iter_bytes(b"v2"))
    with pytest.raises(PreconditionFailed):
        await store.put_if_match(key, pieces(os.urandom(PART_SIZE + MIB)), stale.etag)
    assert await read(store, key) == b"v2"
    assert unfinished_uploads(store, key) == []


@pytest.mark.parametrize("fail_after", [3 * MIB, PART_SIZE + 4 * MIB], ids=["one-part", "multi"])
async def test_an_interrupted_streaming_put_leaves_no_object_and_no_upload(
    store: S3Storage, key: str, fail_after: int
) -> None:
    async def recorder_dies() -> AsyncIterator[bytes]:
        sent = 0
        while sent < fail_after:
            yield b"\x01" * MIB
            sent += MIB
        raise ConnectionResetError("recorder vanished")

    with pytest.raises(ConnectionResetError):
        await store.put(key, recorder_dies())
    with pytest.raises(NotFound):
        await store.stat(key)
    assert unfinished_uploads(store, key) == []


async def test_a_cancelled_multipart_put_leaves_no_upload(store: S3Storage, key: str) -> None:
    part_sent = anyio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for _ in range(PART_SIZE // MIB + 1):
            yield b"\x02" * MIB
        part_sent.set()
        await anyio.sleep(30)
        yield b"never"

    async with anyio.create_task_group() as tg:
        tg.start_soon(store.put, key, slow())
        with anyio.fail_after(20):
            await part_sent.wait()
        tg.cancel_scope.cancel()
    with pytest.raises(NotFound):
        await store.stat(key)
    assert unfinished_uploads(store, key) == []


# --- presigned URLs -------------------------------------------------------------------------------


async def test_a_presigned_url_returns_the_bytes_and_honours_range(
    store: S3Storage, key: str
) -> None:
    data = os.urandom(100_000)
    await store.put(key, iter_bytes(data))
    assert isinstance(store, Presigner)
    url = await store.presign_get(key, 60)
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=10-19"})
        tail = await client.get(url, headers={"Range": "bytes=-5"})
    assert whole.status_code == 200
    assert whole.content == data
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert part.content == data[10:20]
    assert tail.status_code == 206
    assert tail.content == data[-5:]


async def test_a_presigned_url_carries_content_type_and_disposition_overrides(
    store: S3Storage, key: str
) -> None:
    await store.put(key, iter_bytes(b"RIFF....WAVE"))
    disposition = "attachment; filename=\"meeting.wav\"; filename*=UTF-8''meeting.wav"
    url = await store.presign_get(key, 60, "audio/wav", disposition)
    async with httpx.AsyncClient() as client:
        got = await client.get(url)
    assert got.status_code == 200
    assert got.headers["content-type"] == "audio/wav"
    assert got.headers["content-disposition"] == disposition


@pytest.mark.usefixtures("seaweed_only")
async def test_an_expired_presigned_url_is_refused(store: S3Storage, key: str) -> None:
    await store.put(key, iter_bytes(b"secret audio"))
    url = await store.presign_get(key, 1)
    await anyio.sleep(2.5)
    async with httpx.AsyncClient() as client:
        got = await client.get(url)
    assert got.status_code == 403
    assert b"secret audio" not in got.content


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.usefixtures("seaweed_only")
async def test_a_tampered_presigned_url_is_refused(store: S3Storage, key: str) -> None:
    await store.put(key, iter_bytes(b"secret audio"))
    url = await store.presign_get(key, 60)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]
    longer = with_query(url, **{"X-Amz-Expires": "604800"})
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        bad_signature = await client.get(with_query(url, **{"X-Amz-Signature": flipped}))
        extended = await client.get(longer)
    assert bad_signature.status_code == 403
    assert extended.status_code == 403
    assert b"secret audio" not in bad_signature.content + extended.content


@pytest.mark.usefixtures("seaweed_only")
async def test_a_url_signed_for_the_public_endpoint_carries_its_host_and_works(
    store: S3Storage, bucket_env: dict[str, str], key: str
) -> None:
    await store.put(key, iter_bytes(b"public bytes"))
    internal = bucket_env["S3_ENDPOINT"]
    port = urlsplit(internal).port
    assert urlsplit(internal).hostname == "127.0.0.1"
    public_env = {**bucket_env, "S3_PUBLIC_ENDPOINT": f"http://localhost:{port}"}
    public = await open_storage(load_settings(public_env))
    assert isinstance(public, S3Storage)
    try:
        url = await public.presign_get(key, 60, "audio/wav")
        assert await read(public, key) == b"public bytes"  # the app still talks to 127.0.0.1
    finally:
        await public.aclose()
    assert urlsplit(url).netloc == f"localhost:{port}"
    moved = urlunsplit(urlsplit(url)._replace(netloc=f"127.0.0.1:{port}"))
    async with httpx.AsyncClient() as client:
        got = await client.get(url)
        wrong_host = await client.get(moved)
    assert got.status_code == 200
    assert got.content == b"public bytes"
    assert wrong_host.status_code == 403  # the host is part of the signature


# --- outages --------------------------------------------------------------------------------------


@pytest.fixture
async def no_bucket(bucket_env: dict[str, str]) -> AsyncIterator[S3Storage]:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    opened = await open_storage(load_settings({**bucket_env, "S3_BUCKET": bucket}))
    assert isinstance(opened, S3Storage)
    try:
        yield opened
    finally:
        await opened.aclose()
        with contextlib.suppress(Exception):  # SeaweedFS makes the bucket on PutObject
            drop_bucket(bucket_env["S3_ENDPOINT"], bucket)


async def test_check_writable_on_a_missing_bucket_is_unavailable(no_bucket: S3Storage) -> None:
    with pytest.raises(Unavailable):
        await no_bucket.check_writable()


async def test_reads_on_a_missing_bucket_are_unavailable(no_bucket: S3Storage) -> None:
    with pytest.raises(Unavailable):
        await no_bucket.open_range("k")
    with pytest.raises(Unavailable):
        [info async for info in no_bucket.list("")]


async def test_a_put_into_a_missing_bucket_is_unavailable(
    no_bucket: S3Storage, request: pytest.FixtureRequest
) -> None:
    if server_of(request) == "seaweedfs":
        request.applymarker(
            pytest.mark.xfail(reason="SeaweedFS creates a missing bucket on PutObject", strict=True)
        )
    with pytest.raises(Unavailable):
        await no_bucket.put("k", iter_bytes(b"x"))


def unreachable_options(max_attempts: int) -> S3Options:
    (port,) = free_ports(1)  # nothing listens there any more
    return loopback_s3_options(port, max_attempts)


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    gone = await S3Storage("s3", unreachable_options(1)).open()
    try:
        with anyio.fail_after(15):
            with pytest.raises(Unavailable):
                await gone.check_writable()
            with pytest.raises(Unavailable):
                await gone.open_range("k")
            with pytest.raises(Unavailable):
                [info async for info in gone.list("")]
    finally:
        await gone.aclose()


@pytest.mark.parametrize("attempts", [1])
async def test_max_attempts_is_the_total_number_of_attempts(attempts: int) -> None:
    gone = await S3Storage("s3", unreachable_options(attempts)).open()
    sent: list[str] = []
    gone._client.meta.events.register("before-send.s3", lambda **_: sent.append("sent"))
    try:
        with pytest.raises(Unavailable):
            await gone.stat("k")
    finally:
        await gone.aclose()
    assert len(sent) == attempts


async def test_the_minio_backend_works_with_any_s3_endpoint(bucket_env: dict[str, str]) -> None:
    endpoint = urlsplit(bucket_env["S3_ENDPOINT"])
    settings = load_settings(
        {
            "MINIO_ENDPOINT": endpoint.netloc,  # host:port, no scheme, MINIO_SECURE=false
            "MINIO_ACCESS_KEY": "testing",
            "MINIO_SECRET_KEY": "testing",
            "MINIO_BUCKET": bucket_env["S3_BUCKET"],
        }
    )
    assert settings.storage_backend == "minio"
    minio = await open_storage(settings)
    try:
        await minio.check_writable()
        await minio.put("minio/obj", iter_bytes(b"via minio settings"))
        reader = await minio.open_range("minio/obj", 4, 8)
        try:
            assert b"".join([chunk async for chunk in reader]) == b"minio"
        finally:
            await reader.aclose()
        await minio.delete("minio/obj")
    finally:
        await minio.aclose()


# --- options from settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "endpoint", "public", "bucket", "path_style"),
    [
        (
            {"MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "b"},
            "http://minio:9000",
            None,
            "vexa-recordings",
            True,
        ),
        (
            {
                "MINIO_ACCESS_KEY": "a",
                "MINIO_SECRET_KEY": "b",
                "MINIO_ENDPOINT": "store.example.com",
                "MINIO_SECURE": "true",
                "MINIO_PUBLIC_ENDPOINT": "files.example.com",
                "MINIO_BUCKET": "rec",
            },
            "https://store.example.com",
            "https://files.example.com",
            "rec",
            True,
        ),
        (
            {
                "MINIO_ACCESS_KEY": "a",
                "MINIO_SECRET_KEY": "b",
                "MINIO_ENDPOINT": "http://10.0.0.5:9000/",
                "MINIO_PUBLIC_ENDPOINT": "http://localhost:9000",
            },
            "http://10.0.0.5:9000",
            "http://localhost:9000",
            "vexa-recordings",
            True,
        ),
        (
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "S3_BUCKET": "prod"},
            None,
            None,
            "prod",
            False,
        ),
        (
            {
                "STORAGE_BACKEND": "s3",
                "AWS_ACCESS_KEY_ID": "a",
                "AWS_SECRET_ACCESS_KEY": "b",
                "S3_ENDPOINT": "s3.provider.net",
                "S3_PUBLIC_ENDPOINT": "cdn.provider.net",
            },
            "https://s3.provider.net",
            "https://cdn.provider.net",
            "vexa-recordings",
            True,
        ),
    ],
    ids=["minio-defaults", "minio-secure-public", "minio-url", "aws", "s3-provider"],
)
def test_s3_options_follow_the_settings(
    env: dict[str, str], endpoint: str | None, public: str | None, bucket: str, path_style: bool
) -> None:
    options = s3_options(load_settings(env))
    assert options.endpoint_url == endpoint
    assert options.public_endpoint_url == public
    assert options.bucket == bucket
    assert options.path_style is path_style


async def test_an_aws_url_is_signed_for_amazon_without_any_network() -> None:
    settings = load_settings(
        {
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "S3_BUCKET": "prod-recordings",
            "AWS_REGION": "eu-west-1",
        }
    )
    aws = await open_storage(settings)
    assert isinstance(aws, S3Storage)
    try:
        url = await aws.presign_get("recordings/1/2/s.wav", 60)
    finally:
        await aws.aclose()
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.hostname is not None and parts.hostname.endswith(".amazonaws.com")
    assert "prod-recordings" in parts.hostname + parts.path
    assert "eu-west-1" in url
    assert "secret" not in url
