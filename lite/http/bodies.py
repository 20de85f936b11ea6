"""Small JSON request bodies: read with a bound (never the whole of an oversized body)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from lite.errors import BadRequest, PayloadTooLarge

MAX_JSON_BODY = 16 * 1024
MAX_JSON_TEXT = 64 * 1024  # a JSON text parsed from a form field or a body, at most
MAX_JSON_DEPTH = 32  # objects and arrays nested deeper are refused before parsing


def json_object(raw: str | bytes, what: str = "body") -> dict[str, Any]:
    """Parse a JSON object; empty input is an empty object."""
    if not raw.strip():
        return {}
    if len(raw) > MAX_JSON_TEXT:
        raise PayloadTooLarge(f"{what} larger than {MAX_JSON_TEXT} bytes")
    if _depth(raw.encode() if isinstance(raw, str) else raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest(f"{what} must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return data


def _depth(raw: bytes) -> int:
    """The deepest nesting of [ and { outside strings (json.loads recurses per level, so a deep
    text would end in RecursionError)."""
    deepest = depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


async def json_body(request: Request, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
    received = bytearray()
    async for block in request.stream():
        received += block
        if len(received) > limit:
            raise PayloadTooLarge(f"request body larger than {limit} bytes")
    return json_object(bytes(received))
