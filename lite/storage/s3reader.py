"""Ranged reads of the S3 backend: a streaming GetObject body, always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from botocore.exceptions import BotoCoreError

from lite.storage.base import ObjectInfo, Unavailable

READ_CHUNK = 256 * 1024


class S3Reader:
    """A streaming GetObject body; `aclose` releases the connection also after an abort."""

    def __init__(self, body: Any, info: ObjectInfo) -> None:
        self.info = info
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while self._body is not None:
                data = await self._body.read(READ_CHUNK)
                if not data:
                    break
                yield data
        except (BotoCoreError, OSError) as exc:
            raise Unavailable(f"object storage stream broke ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()


def total_size(got: dict[str, Any]) -> int:
    content_range = got.get("ContentRange")  # "bytes 0-99/1234"
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return int(got["ContentLength"])
