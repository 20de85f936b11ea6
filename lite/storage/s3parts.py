"""Helpers of the S3 backend's streaming puts: part-sized buffering, task-group errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import TypeVar

import anyio

T = TypeVar("T")
PART_SIZE = 8 * 1024 * 1024  # ≥ 5 MiB, the S3 minimum for every part but the last


async def first_error(work: Awaitable[T]) -> T:
    """Await work that runs a task group; re-raise its first error unwrapped (callers expect the
    storage's typed errors, not an ExceptionGroup)."""
    try:
        return await work
    except BaseExceptionGroup as group:
        errors = list(leaves(group))
        first = next(
            (e for e in errors if not isinstance(e, anyio.get_cancelled_exc_class())), errors[0]
        )
        raise first from None


def leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from leaves(error)
        else:
            yield error


async def fill(stream: AsyncIterator[bytes], buffer: bytearray) -> bytearray:
    """Read from stream until buffer holds a whole part or the stream ends."""
    while len(buffer) < PART_SIZE:
        try:
            buffer += await anext(stream)
        except StopAsyncIteration:
            break
    return buffer
