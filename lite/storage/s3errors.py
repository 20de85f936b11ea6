"""botocore errors → the storage's typed errors, at the S3 boundary."""

from __future__ import annotations

from botocore.exceptions import ClientError

from lite.storage.base import (
    InsufficientStorage,
    NotFound,
    PreconditionFailed,
    StorageError,
    Unavailable,
)

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_NO_SPACE = {"XMinioStorageFull", "InsufficientStorage", "507"}


def translate(exc: Exception, key: str) -> StorageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_FOUND or (status == "404" and code != "NoSuchBucket"):
            return NotFound(f"no object {key}")
        if code in _PRECONDITION or status in ("412", "409"):
            return PreconditionFailed(f"{key} changed")
        if code in _NO_SPACE or status == "507":
            return InsufficientStorage("object storage is full")
        if code == "NoSuchBucket":
            return Unavailable("the bucket does not exist")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return Unavailable(f"object storage refused the credentials ({code})")
        if status == "403":  # HEAD answers carry no error code
            return Unavailable("object storage refused the credentials (403 Forbidden)")
        return Unavailable(f"object storage error ({code or status})")
    return Unavailable(f"object storage unreachable ({type(exc).__name__})")
