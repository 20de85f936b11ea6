"""Webhook events: which manifest change is an event, its id, and Standard Webhooks signing. Pure.

Signing follows https://www.standardwebhooks.com/: the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256 with the secret's base64-decoded bytes,
sent as `webhook-signature: v1,<base64>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from lite.errors import ConfigError
from lite.manifest import COMPLETED, FAILED, IN_PROGRESS, Manifest

COMPLETED_EVENT = "recording.completed"
FAILED_EVENT = "recording.failed"
DELETED_EVENT = "recording.deleted"
EXPIRED_EVENT = "recording.expired"
EVENT_TYPES = (COMPLETED_EVENT, FAILED_EVENT, DELETED_EVENT, EXPIRED_EVENT)
SECRET_PREFIX = "whsec_"
_KEPT_IDS = 16


def _masters(manifest: Manifest) -> list[tuple[str, str | None, str]]:
    return [(k, s.sha256, s.status) for k, s in sorted(manifest.media.items())]


def transition(before: Manifest, after: Manifest) -> str | None:
    """The event a manifest change makes: the recording finished (completed or failed), or a
    finished recording's masters were rebuilt (a late chunk) — else None."""
    if after.status == IN_PROGRESS:
        return None
    if before.status == after.status and _masters(before) == _masters(after):
        return None
    return COMPLETED_EVENT if after.status == COMPLETED else FAILED_EVENT


def change_event_id(event_type: str, after: Manifest) -> str:
    """Deterministic: two writers computing the same new manifest name the same event."""
    state = json.dumps(
        [after.id, event_type, after.status, after.completed_at, _masters(after)], default=str
    )
    return "msg_" + hashlib.sha256(state.encode()).hexdigest()[:32]


def gone_event_id(event_type: str, recording_id: int) -> str:
    """A recording is deleted (or expires) once: retries of the deletion name the same event."""
    return "msg_" + hashlib.sha256(f"{recording_id}:{event_type}".encode()).hexdigest()[:32]


def remember(manifest: Manifest, event_id: str) -> None:
    """Commit the event id with the manifest (the outbox checks it there)."""
    if event_id not in manifest.events:
        manifest.events = [*manifest.events, event_id][-_KEPT_IDS:]


def envelope(event_type: str, timestamp: str, recording: dict[str, Any]) -> bytes:
    """The body every endpoint receives: the event's type and time, the recording's JSON."""
    body = {"type": event_type, "timestamp": timestamp, "data": recording}
    return json.dumps(body, separators=(",", ":")).encode()


def secret_bytes(secret: str) -> bytes:
    """The key inside a `whsec_<base64>` secret; a malformed one is a ConfigError."""
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigError("a webhook secret must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("a webhook secret must look like whsec_<base64>") from None
    if len(key) < 16:
        raise ConfigError("a webhook secret must hold at least 16 bytes")
    return key


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def finished(status: str) -> bool:
    return status in (COMPLETED, FAILED)
