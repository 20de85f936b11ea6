"""The one place a backend is chosen and built from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lite.settings import Settings
from lite.storage.base import Storage
from lite.storage.local import LocalStorage

if TYPE_CHECKING:
    from lite.storage.s3 import S3Options


def _endpoint_url(endpoint: str, secure: bool) -> str:
    if endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/")
    return f"{'https' if secure else 'http'}://{endpoint.rstrip('/')}"


def s3_options(settings: Settings) -> S3Options:
    # botocore and aiobotocore take most of a second to import: only an S3 backend loads them.
    from lite.storage.s3 import S3Options

    if settings.storage_backend == "minio":
        endpoint = _endpoint_url(settings.minio_endpoint, settings.minio_secure)
        public = settings.minio_public_endpoint
        return S3Options(
            bucket=settings.minio_bucket,
            endpoint_url=endpoint,
            public_endpoint_url=_endpoint_url(public, settings.minio_secure) if public else None,
            region=settings.aws_region,
            access_key=settings.minio_access_key,
            secret_key=settings.minio_secret_key,
            path_style=True,
        )
    endpoint = settings.s3_endpoint
    public = settings.s3_public_endpoint
    return S3Options(
        bucket=settings.s3_bucket,
        endpoint_url=_endpoint_url(endpoint, settings.s3_secure) if endpoint else None,
        public_endpoint_url=_endpoint_url(public, settings.s3_secure) if public else None,
        region=settings.aws_region,
        # Empty keys fall through to botocore's standard credential chain (profile, IRSA, ECS).
        access_key=settings.aws_access_key_id or None,
        secret_key=settings.aws_secret_access_key or None,
        # Non-AWS providers are addressed by path; AWS picks virtual-hosted style itself.
        path_style=bool(endpoint),
    )


async def open_storage(settings: Settings) -> Storage:
    """Build and open the configured backend; the caller closes it with `aclose()`."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.local_storage_dir, fsync=settings.local_storage_fsync)
    from lite.storage.s3 import S3Storage

    return await S3Storage(settings.storage_backend, s3_options(settings)).open()
