"""Storage keys: the only place keys are built (docs/architecture.md, Storage layout). Pure.

Every component is validated before it is joined, so no user input reaches a path unchecked.
"""

from __future__ import annotations

import re

from lite.errors import InvalidKey

EXTENSIONS = ("wav", "webm", "ogg", "opus", "mp3", "m4a", "mp4")
MAX_ID = 2**53 - 1
MAX_SEQ = 9_999_999_999
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HEX64 = re.compile(r"[0-9a-f]{64}")

SIGNING_KEY = "_system/signing-key"
SESSIONS_PREFIX = "_system/sessions/"
API_KEYS_PREFIX = "_system/api-keys/"
RECORDINGS_PREFIX = "recordings/"


def check_id(value: object, what: str = "id") -> int:
    """An integer id in [0, 2^53); accepts ints and decimal strings."""
    if isinstance(value, bool):
        raise InvalidKey(f"{what} must be an integer")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 16:
            raise InvalidKey(f"{what} must be a non-negative integer")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise InvalidKey(f"{what} must be an integer between 0 and 2^53-1")
    return value


def check_token(value: object, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InvalidKey(f"{what} must match [A-Za-z0-9_-]{{1,128}}")
    return value


def check_ext(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in EXTENSIONS:
        raise InvalidKey(f"format must be one of {', '.join(EXTENSIONS)}")
    return value.lower()


def recording_prefix(user_id: int, recording_id: int) -> str:
    return f"{RECORDINGS_PREFIX}{check_id(user_id, 'user_id')}/{check_id(recording_id)}/"


def user_prefix(user_id: int) -> str:
    return f"{RECORDINGS_PREFIX}{check_id(user_id, 'user_id')}/"


def manifest_key(user_id: int, recording_id: int) -> str:
    return recording_prefix(user_id, recording_id) + "recording.json"


def master_key(user_id: int, recording_id: int, session_uid: str, media_type: str, ext: str) -> str:
    """`<session>.<ext>` for audio (the seed's layout), `<session>.<media_type>.<ext>` otherwise."""
    session = check_token(session_uid, "session_uid")
    kind = check_token(media_type, "media_type")
    middle = "" if kind == "audio" else f".{kind}"
    return f"{recording_prefix(user_id, recording_id)}{session}{middle}.{check_ext(ext)}"


def chunk_prefix(user_id: int, recording_id: int, session_uid: str, media_type: str) -> str:
    session = check_token(session_uid, "session_uid")
    kind = check_token(media_type, "media_type")
    return f"{recording_prefix(user_id, recording_id)}{session}/{kind}/chunks/"


def chunk_key(
    user_id: int, recording_id: int, session_uid: str, media_type: str, seq: int, ext: str
) -> str:
    prefix = chunk_prefix(user_id, recording_id, session_uid, media_type)
    number = check_id(seq, "chunk_seq")
    if number > MAX_SEQ:  # names are 10 digits, so listing order stays seq order
        raise InvalidKey(f"chunk_seq must be at most {MAX_SEQ}")
    return f"{prefix}{number:010d}.{check_ext(ext)}"


def parse_chunk_name(name: str) -> tuple[int, str] | None:
    """`0000000007.wav` → (7, 'wav'); anything else (temp files, strays) → None."""
    stem, dot, ext = name.partition(".")
    if not dot or len(stem) != 10 or not (stem.isascii() and stem.isdigit()):
        return None
    if ext not in EXTENSIONS:
        return None
    return int(stem), ext


def session_index_key(session_uid: str) -> str:
    return SESSIONS_PREFIX + check_token(session_uid, "session_uid") + ".json"


def api_key_record_key(key_sha256: str) -> str:
    if not _HEX64.fullmatch(key_sha256):
        raise InvalidKey("api key hash must be 64 lowercase hex digits")
    return API_KEYS_PREFIX + key_sha256 + ".json"


def peaks_key(user_id: int, recording_id: int, session_uid: str, media_type: str, ext: str) -> str:
    """Waveform peaks beside their master: `<master key>.peaks.json`."""
    return master_key(user_id, recording_id, session_uid, media_type, ext) + ".peaks.json"
