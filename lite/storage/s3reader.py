"""Ranged reads of the S3 backend: the object's facts from a GET's headers, and its streaming body,
always closed."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from lite.storage.base import ObjectInfo, Unavailable

# Up to this much of what has arrived is handed on at once: fewer, larger sends per MiB.
READ_CHUNK = 1024 * 1024
_META = "x-amz-meta-"


def object_info(
    key: str,
    size: int,
    etag: str,
    modified: datetime | None,
    metadata: Mapping[str, str] | None = None,
) -> ObjectInfo:
    when = modified.astimezone(UTC) if modified else datetime.now(UTC)
    return ObjectInfo(key, size, etag.strip('"'), when, dict(metadata or {}))


def answer_info(key: str, headers: Mapping[str, str]) -> ObjectInfo:
    """The object's facts from a GetObject answer's headers (200 or 206)."""
    size = total_size(headers.get("Content-Range"), headers.get("Content-Length"))
    if size is None:
        raise Unavailable("object storage answered without the object's length")
    stamp = headers.get("Last-Modified")
    modified = _http_date(stamp) if stamp else None
    # S3 keeps metadata names in lower case; some servers echo the case they were sent.
    metadata = {
        name[len(_META) :].lower(): value
        for name, value in headers.items()
        if name[: len(_META)].lower() == _META
    }
    return object_info(key, size, headers.get("ETag", ""), modified, metadata)


@functools.lru_cache(maxsize=256)  # every range of one object carries the same date
def _http_date(stamp: str) -> datetime | None:
    try:
        return parsedate_to_datetime(stamp)
    except ValueError:
        return None


def total_size(content_range: str | None, content_length: str | None) -> int | None:
    if content_range and "/" in content_range:  # "bytes 0-99/1234"
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    if content_length and content_length.isdigit():
        return int(content_length)
    return None


class S3Reader:
    """A streaming GET answer's body; `aclose` releases the connection, also after an abort (a
    body read to its end goes back to the pool, an unfinished one is closed)."""

    closes_at_once = True  # aclose() never waits: a caller need not shield it from cancellation

    def __init__(self, response: aiohttp.ClientResponse | None, info: ObjectInfo) -> None:
        self.info = info
        self._response = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while self._response is not None:
                data = await self._response.content.read(READ_CHUNK)
                if not data:
                    break
                yield data
        except (aiohttp.ClientError, OSError) as exc:  # a body cut short raises, never ends early
            raise Unavailable(f"object storage stream broke ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
