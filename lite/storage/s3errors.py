"""S3 error answers → the storage's typed errors (of botocore calls and of plain GETs)."""

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
        return from_answer(code, status, key)
    return Unavailable(f"object storage unreachable ({type(exc).__name__})")


def from_answer(code: str, status: str, key: str) -> StorageError:
    """The typed error of an S3 error answer: its error code (may be empty) and HTTP status."""
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
