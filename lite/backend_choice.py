"""Which storage backend to use, and why. Pure: reads only the given mapping.

The rules are in docs/architecture.md, Configuration.
"""

from __future__ import annotations

from collections.abc import Mapping

from lite.errors import ConfigError

_AWS_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def _has_aws_credentials(env: Mapping[str, str]) -> bool:
    keys = bool(env.get("AWS_ACCESS_KEY_ID")) and bool(env.get("AWS_SECRET_ACCESS_KEY"))
    return keys or any(env.get(name) for name in _AWS_CREDENTIAL_SOURCES)


def resolve_backend(env: Mapping[str, str]) -> tuple[str, str, tuple[str, ...]]:
    """Return (backend, why, warnings); raise ConfigError on an impossible choice."""
    explicit = env.get("STORAGE_BACKEND", "").strip().lower()
    aws = _has_aws_credentials(env)
    bucket_set = "S3_BUCKET" in env
    minio_keys = bool(env.get("MINIO_ACCESS_KEY")) and bool(env.get("MINIO_SECRET_KEY"))
    if explicit:
        return _explicit_backend(explicit, env, aws, bucket_set, minio_keys)
    if aws and bucket_set:
        return "s3", "AWS credentials and S3_BUCKET present", ()
    if aws:
        raise ConfigError(
            "AWS credentials are set but S3_BUCKET is not: set S3_BUCKET to use s3, "
            "or STORAGE_BACKEND=local to keep recordings on disk"
        )
    if minio_keys:
        return "minio", "MINIO_ACCESS_KEY and MINIO_SECRET_KEY present", ()
    return "local", "no object-storage credentials set", ()


def _explicit_backend(
    explicit: str, env: Mapping[str, str], aws: bool, bucket_set: bool, minio_keys: bool
) -> tuple[str, str, tuple[str, ...]]:
    why = f"STORAGE_BACKEND={explicit}"
    if explicit == "s3" and not env.get("S3_BUCKET", "x").strip():
        raise ConfigError("STORAGE_BACKEND=s3 needs a bucket: S3_BUCKET is empty")
    if explicit == "minio" and not minio_keys:
        raise ConfigError(
            "STORAGE_BACKEND=minio needs MINIO_ACCESS_KEY and MINIO_SECRET_KEY (one or both empty)"
        )
    if explicit == "minio" and not env.get("MINIO_BUCKET", "x").strip():
        raise ConfigError("STORAGE_BACKEND=minio needs a bucket: MINIO_BUCKET is empty")
    warnings: list[str] = []
    if explicit == "local" and aws and bucket_set:
        warnings.append(
            "STORAGE_BACKEND=local while S3 credentials and S3_BUCKET are set: "
            "recordings go to local disk, not to the bucket"
        )
    if explicit == "local" and minio_keys:
        warnings.append(
            "STORAGE_BACKEND=local while MINIO_ACCESS_KEY/MINIO_SECRET_KEY are set: "
            "recordings go to local disk, not to MinIO"
        )
    return explicit, why, tuple(warnings)
