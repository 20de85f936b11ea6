"""The shared signing secret: `LITE_SIGNING_KEY`, or generated once into `_system/signing-key`.

Create-if-absent makes every replica end up with the same secret without coordination: the first
writer wins and the others read what it wrote.
"""

from __future__ import annotations

import secrets

import anyio

from lite import keys
from lite.errors import AlreadyExists
from lite.storage.base import ConditionalWriter, Storage, iter_bytes, read_all


class SigningSecret:
    """Loads the secret on first use (so a storage outage at boot does not stop the process)."""

    def __init__(self, storage: Storage, configured: str) -> None:
        self.storage = storage
        self._value = configured.encode() if configured else b""
        self._lock = anyio.Lock()

    async def get(self) -> bytes:
        if self._value:
            return self._value
        async with self._lock:
            if not self._value:
                self._value = await self._load_or_create()
        return self._value

    async def _load_or_create(self) -> bytes:
        fresh = secrets.token_hex(32).encode()
        assert isinstance(self.storage, ConditionalWriter)
        try:
            await self.storage.put_if_absent(keys.SIGNING_KEY, iter_bytes(fresh))
            return fresh
        except AlreadyExists:
            return (await read_all(self.storage, keys.SIGNING_KEY)).strip()
