"""Typed errors. Pure: imports nothing of the app.

Storage backends raise the `StorageError` family; the HTTP layer maps every `LiteError` to a status
and a stable code in one place (`lite.http.errors`).
"""

from __future__ import annotations


class LiteError(Exception):
    """Base of every error the service reports to a client with a stable code."""

    code = "internal_error"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details


class ConfigError(LiteError):
    code = "config_error"


# --- storage -------------------------------------------------------------------------------------


class StorageError(LiteError):
    code = "storage_error"


class NotFound(StorageError):
    code = "not_found"


class AlreadyExists(StorageError):
    code = "already_exists"


class PreconditionFailed(StorageError):
    code = "precondition_failed"


class InsufficientStorage(StorageError):
    code = "insufficient_storage"


class Unavailable(StorageError):
    code = "storage_unavailable"


class StaleMedia(Unavailable):
    """A cached description no longer matches the stored media (it was rebuilt meanwhile)."""

    code = "media_changed"


# --- requests ------------------------------------------------------------------------------------


class BadRequest(LiteError):
    code = "bad_request"


class InvalidKey(BadRequest):
    """An id, session_uid, media type or extension outside its allowed shape."""

    code = "invalid_identifier"


class Unauthorized(LiteError):
    code = "unauthorized"


class Forbidden(LiteError):
    code = "forbidden"


class ResourceNotFound(LiteError):
    code = "not_found"


class Conflict(LiteError):
    code = "conflict"


class PayloadTooLarge(LiteError):
    code = "payload_too_large"


class ChecksumMismatch(BadRequest):
    code = "checksum_mismatch"


class Sealed(LiteError):
    """A chunk for a media file whose chunks were compacted away: the master is final."""

    code = "recording_sealed"
    status = 410


class MediaUnplayable(LiteError):
    """The media file exists but cannot be served (e.g. chunks whose formats do not match)."""

    code = "media_unplayable"


class UnsupportedMediaType(LiteError):
    """The bytes are not the format the upload declared (e.g. WAV sent as audio/mp4)."""

    code = "unsupported_media_type"
    status = 415
