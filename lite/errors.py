"""Typed errors. Pure: imports nothing of the app.

Each error owns its HTTP status and its public code; `lite.http.errors` renders them in one place.
A message is either written for clients (request errors: "limit must be between 1 and 200") or for
logs (storage errors name keys and paths): the latter carry a fixed `summary` that clients read
instead, and the message stays in the log.
"""

from __future__ import annotations


class LiteError(Exception):
    """Base of every error the service reports to a client with a stable code."""

    status = 500
    code = "internal_error"
    # Set on errors whose message is meant for logs: what a client reads instead.
    summary: str | None = None

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    @property
    def public_message(self) -> str:
        return self.summary or self.message

    @property
    def public_details(self) -> dict[str, str | int | float | bool]:
        """Extra fields of the error body: plain values only, none from log-only errors."""
        if self.summary is not None:
            return {}
        return {k: v for k, v in self.details.items() if isinstance(v, str | int | float | bool)}


class ConfigError(LiteError):
    code = "config_error"


# --- storage: messages name keys and paths, so clients read the summary --------------------------


class StorageError(LiteError):
    code = "storage_error"
    summary = "storage error"


class NotFound(StorageError):
    status = 404
    code = "not_found"
    summary = "not found"


class AlreadyExists(StorageError):
    status = 409
    code = "already_exists"
    summary = "already exists"


class PreconditionFailed(StorageError):
    status = 409
    code = "precondition_failed"
    summary = "changed by another request; retry"


class InsufficientStorage(StorageError):
    status = 507
    code = "insufficient_storage"
    summary = "the storage is full"


class Unavailable(StorageError):
    status = 503
    code = "storage_unavailable"
    summary = "the storage is unavailable; retry later"


class StaleMedia(Unavailable):
    """A cached description no longer matches the stored media (it was rebuilt meanwhile)."""

    code = "media_changed"
    summary = "the media file was rebuilt; ask again"


# --- requests: messages are written for the client -----------------------------------------------


class BadRequest(LiteError):
    status = 400
    code = "bad_request"


class InvalidKey(BadRequest):
    """An id, session_uid, media type or extension outside its allowed shape."""

    code = "invalid_identifier"


class Unauthorized(LiteError):
    status = 401
    code = "unauthorized"


class Forbidden(LiteError):
    status = 403
    code = "forbidden"


class ResourceNotFound(LiteError):
    status = 404
    code = "not_found"


class Conflict(LiteError):
    status = 409
    code = "conflict"


class PayloadTooLarge(LiteError):
    status = 413
    code = "payload_too_large"


class Busy(LiteError):
    """More chunk bytes are arriving than the server holds in memory at once: send it again after
    the Retry-After seconds (nothing of this body was read or stored)."""

    status = 503
    code = "busy"


class ChecksumMismatch(BadRequest):
    code = "checksum_mismatch"


class Sealed(LiteError):
    """A chunk for a media file whose chunks were compacted away: the master is final."""

    code = "recording_sealed"
    status = 410


class MediaUnplayable(LiteError):
    """The media file exists but cannot be served (e.g. chunks whose formats do not match)."""

    status = 422
    code = "media_unplayable"


class UnsupportedMediaType(LiteError):
    """The bytes are not the format the upload declared (e.g. WAV sent as audio/mp4)."""

    code = "unsupported_media_type"
    status = 415
