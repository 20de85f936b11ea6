"""Identifiers made without coordination. Pure.

Recording ids are time-ordered and below 2^53 (exact in a browser's JavaScript): milliseconds since
2024 in the high bits, 12 random bits below. Uniqueness is finally enforced by create-if-absent on
the session index and manifest; a collision just draws a new id.
"""

from __future__ import annotations

import hashlib
import secrets
import time

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_RANDOM_BITS = 12
MAX_SAFE = 2**53 - 1


def new_recording_id(now_ms: int | None = None) -> int:
    ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) - _EPOCH_MS
    value = (ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
    return value & MAX_SAFE


def media_file_id(recording_id: int, media_type: str) -> int:
    """A stable id per (recording, media type): known at the first chunk without any write."""
    digest = hashlib.sha256(f"{recording_id}:{media_type}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def new_session_uid() -> str:
    return secrets.token_hex(16)
