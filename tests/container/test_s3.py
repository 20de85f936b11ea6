"""S3 chosen from the credentials alone, and MinIO mode from config/minio.env, against SeaweedFS on
the host's loopback: the container is stateless and presigned URLs work (issue 5, test 3)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.container import api
from tests.container.podman import ROOT, Pod
from tests.mediafiles import make_wav
from tests.servers import SeaweedServer, drop_bucket, make_bucket


@pytest.fixture
def s3_env(seaweed: SeaweedServer) -> Iterator[dict[str, str]]:
    bucket = make_bucket(seaweed.endpoint)
    try:
        # No STORAGE_BACKEND: credentials plus S3_BUCKET must select s3.
        yield {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT": seaweed.endpoint,
        }
    finally:
        drop_bucket(seaweed.endpoint, bucket)


def survives_replacement(pod: Pod, env: dict[str, str], endpoint: str, *extra: str) -> str:
    """Store a recording, replace the container: still listed, and its presigned URL works.
    Returns the first container's log."""
    first = pod.start(env, None, *extra)
    first.wait_healthy()
    log = first.logs()
    assert "WARNING" not in log
    key = api.create_key(first.url, 3)
    stored = api.store_recording(first.url, key, 3, make_wav(1.5, seed=5))

    pod.remove(first)
    second = pod.start(env, None, *extra)
    second.wait_healthy()
    assert stored.recording_id in api.listed_ids(second.url, key)
    link = api.download(second.url, key, stored)
    url = str(link["url"])
    assert url.startswith(endpoint), link  # presigned, straight from the bucket
    assert "X-Amz-Signature=" in url or "Signature=" in url
    fetched = httpx.get(url, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == api.raw(second.url, key, stored).content
    return log


def test_s3_from_credentials_survives_replacement(pod: Pod, s3_env: dict[str, str]) -> None:
    log = survives_replacement(pod, s3_env, s3_env["S3_ENDPOINT"])
    assert re.search(r"^storage: s3 \(.*AWS credentials.*S3_BUCKET.*\)$", log, re.MULTILINE), log


def test_minio_env_file(pod: Pod, s3_env: dict[str, str]) -> None:
    """config/minio.env as shipped, pointed at the test server."""
    endpoint = s3_env["S3_ENDPOINT"]
    env = {
        "MINIO_ENDPOINT": endpoint.removeprefix("http://"),
        "MINIO_PUBLIC_ENDPOINT": endpoint,
        "MINIO_ACCESS_KEY": "testing",
        "MINIO_SECRET_KEY": "testing",
        "MINIO_BUCKET": s3_env["S3_BUCKET"],
    }
    env_file = f"--env-file={ROOT / 'config' / 'minio.env'}"
    log = survives_replacement(pod, env, endpoint, env_file)
    assert "storage: minio (STORAGE_BACKEND=minio)" in log
