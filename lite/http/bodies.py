"""Small JSON request bodies: read with a bound (never the whole of an oversized body)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from lite.errors import BadRequest, PayloadTooLarge

MAX_JSON_BODY = 16 * 1024


def json_object(raw: str | bytes, what: str = "body") -> dict[str, Any]:
    """Parse a JSON object; empty input is an empty object."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadRequest(f"{what} must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return data


async def json_body(request: Request, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
    received = bytearray()
    async for block in request.stream():
        received += block
        if len(received) > limit:
            raise PayloadTooLarge(f"request body larger than {limit} bytes")
    return json_object(bytes(received))
