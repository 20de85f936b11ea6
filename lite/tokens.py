"""Recorder upload tokens (HS256 JWT) and signed /raw URLs (HMAC). Pure given the secret."""

from __future__ import annotations

import hashlib
import hmac
import time
import warnings
from dataclasses import dataclass

from lite.errors import Forbidden, Unauthorized

# PyJWT (with cryptography behind it) is imported by the functions that use it, at the first token:
# the server answers /readyz without it.
_AUDIENCE = "vexa-lite-upload"
# What Vexa's meeting-api puts into the MeetingToken it mints for a bot (docs/vexa.md).
_MEETING_ISSUER = "meeting-api"
_MEETING_AUDIENCE = "transcription-collector"
_MEETING_SCOPE = "transcribe:write"


@dataclass(frozen=True)
class UploadGrant:
    user_id: int
    recording_id: int
    session_uid: str


def issue_upload_token(
    secret: bytes, grant: UploadGrant, ttl: int, now: float | None = None
) -> str:
    import jwt

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
    import jwt

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


@dataclass(frozen=True)
class MeetingGrant:
    """Who a Vexa MeetingToken speaks for: the user and Vexa's meeting id."""

    user_id: int
    meeting_id: int


def is_meeting_token(token: str) -> bool:
    """Names Vexa's audience (read unverified, only to pick the verifier: read_meeting_token
    checks the signature)."""
    import jwt

    if token.count(".") != 2:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(claims, dict) and claims.get("aud") == _MEETING_AUDIENCE


def read_meeting_token(secret: str, token: str) -> MeetingGrant:
    """The grant of a MeetingToken signed with INTERNAL_API_SECRET; Unauthorized when forged,
    expired, for another audience, issuer or scope, or without user and meeting."""
    import jwt
    from jwt.warnings import InsecureKeyLengthWarning

    try:
        with warnings.catch_warnings():
            # The operator chose INTERNAL_API_SECRET (Vexa's may be short); a warning per chunk
            # would not make it longer.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                secret.encode(),
                algorithms=["HS256"],
                audience=_MEETING_AUDIENCE,
                issuer=_MEETING_ISSUER,
                options={"require": ["exp", "iss", "aud", "user_id", "meeting_id"]},
            )
        if claims.get("scope") != _MEETING_SCOPE:
            raise Unauthorized("the MeetingToken is not for uploading (scope)")
        return MeetingGrant(_positive(claims["user_id"]), _positive(claims["meeting_id"]))
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthorized("invalid or expired MeetingToken") from None


def _positive(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("not an id")
    number = int(value)
    if number < 0 or number >= 2**53:
        raise ValueError("not an id")
    return number


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
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden("invalid signature")
    if exp < (time.time() if now is None else now):
        raise Forbidden("the link has expired")
    return user_id
