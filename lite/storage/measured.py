"""A Storage that times every call of the one it wraps and reports (backend, operation, outcome).

Capabilities pass through: an attribute the wrapper does not define is the wrapped backend's, so
`isinstance(measured, Presigner)` holds exactly when it holds for the backend, and the optional
async methods are timed like the core ones. Knows nothing of Prometheus: `observe` is a callback.
"""

from __future__ import annotations

import builtins
import functools
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from lite.errors import LiteError
from lite.storage.base import ByteReader, MetadataSource, ObjectInfo, Storage

Observe = Callable[[str, str, str, float], None]  # backend, operation, outcome, seconds
T = TypeVar("T")
_TIMED_CAPABILITIES = frozenset(
    {"compose", "put_if_absent", "put_if_match", "presign_get", "sweep_leftovers"}
)


def outcome_of(exc: BaseException | None) -> str:
    """ "ok", or the error's stable code (not_found, storage_unavailable, ...)."""
    if exc is None:
        return "ok"
    if isinstance(exc, LiteError):
        return exc.code
    return "cancelled" if not isinstance(exc, Exception) else "error"


class MeasuredStorage:
    def __init__(self, inner: Storage, observe: Observe) -> None:
        self.inner = inner
        self.name = inner.name
        self._observe = observe

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            return await call
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._observe(self.name, operation, outcome_of(failure), time.perf_counter() - started)

    async def put(
        self, key: str, data: AsyncIterable[bytes], metadata: MetadataSource | None = None
    ) -> ObjectInfo:
        return await self._timed("put", self.inner.put(key, data, metadata))

    async def stat(self, key: str) -> ObjectInfo:
        return await self._timed("stat", self.inner.stat(key))

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteReader:
        return await self._timed("open_range", self.inner.open_range(key, start, end))

    async def delete(self, key: str) -> None:
        await self._timed("delete", self.inner.delete(key))

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Timed from the first request to the last page (or an abandoned iteration)."""
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            async for info in self.inner.list(prefix):
                yield info
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._observe(self.name, "list", outcome_of(failure), time.perf_counter() - started)

    async def list_children(self, prefix: str) -> builtins.list[str]:
        return await self._timed("list_children", self.inner.list_children(prefix))

    async def check_writable(self) -> None:
        await self._timed("check_writable", self.inner.check_writable())

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (during copy or unpickling): never recurse
            raise AttributeError(name)
        found = getattr(self.inner, name)  # AttributeError keeps capabilities honest
        if name not in _TIMED_CAPABILITIES:
            return found

        @functools.wraps(found)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            return await self._timed(name, found(*args, **kwargs))

        return timed
