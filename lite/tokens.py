"""Recorder upload tokens (HS256 JWT) and signed /raw URLs (HMAC). Pure given the secret."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

from lite.errors import Forbidden, Unauthorized

_AUDIENCE = "vexa-lite-upload"


@dataclass(frozen=True)
class UploadGrant:
    user_id: int
    recording_id: int
    session_uid: str


def issue_upload_token(
    secret: bytes, grant: UploadGrant, ttl: int, now: float | None = None
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": str(grant.user_id),
        "rid": grant.recording_id,
        "sid": grant.session_uid,
        "aud": _AUDIENCE,
        "iat": issued,
        "exp": issued + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_upload_token(secret: bytes, token: str) -> UploadGrant:
    """The grant of a valid token; Unauthorized when forged, expired or malformed."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=_AUDIENCE,
            options={"require": ["exp", "sub", "rid", "sid"]},
        )
        return UploadGrant(int(claims["sub"]), int(claims["rid"]), str(claims["sid"]))
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthorized("invalid or expired upload token") from None


def _raw_signature(secret: bytes, user_id: int, recording_id: int, media_id: int, exp: int) -> str:
    message = f"raw:{user_id}:{recording_id}:{media_id}:{exp}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_raw(secret: bytes, user_id: int, recording_id: int, media_id: int, exp: int) -> str:
    """Query string for a /raw URL that plays without headers until `exp` (unix seconds)."""
    signature = _raw_signature(secret, user_id, recording_id, media_id, exp)
    return f"u={user_id}&exp={exp}&sig={signature}"


def verify_raw(
    secret: bytes, query: dict[str, str], recording_id: int, media_id: int, now: float | None = None
) -> int:
    """The user id a signed /raw query grants, or Forbidden (tampered, expired, other media)."""
    try:
        user_id, exp = int(query["u"]), int(query["exp"])
        signature = query["sig"]
    except (KeyError, ValueError):
        raise Forbidden("invalid signature") from None
    expected = _raw_signature(secret, user_id, recording_id, media_id, exp)
    if not hmac.compare_digest(expected, signature):
        raise Forbidden("invalid signature")
    if exp < (time.time() if now is None else now):
        raise Forbidden("the link has expired")
    return user_id
