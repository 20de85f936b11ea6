"""Leases in the store: one replica at a time does a piece of work; a crashed holder's lease ends.

A lease is a small object written with the storage's conditional writes: create-if-absent takes a
free lease, compare-and-swap takes over one whose time has run out. Nothing needs a clock shared
beyond wall time being roughly right (a lease lasts tens of seconds; skew is far smaller).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from lite.errors import AlreadyExists, NotFound, PreconditionFailed
from lite.storage.base import ConditionalWriter, Storage, iter_bytes

LEASES_PREFIX = "_system/leases/"


async def read_versioned(storage: Storage, key: str) -> tuple[bytes, str]:
    """An object's bytes with the etag they had (for a compare-and-swap that follows)."""
    reader = await storage.open_range(key)
    try:
        payload = b"".join([block async for block in reader])
    finally:
        await reader.aclose()
    return payload, reader.info.etag


def new_owner() -> str:
    """Names this process in the leases it holds."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Lease:
    key: str
    owner: str
    until: float


class Leases:
    def __init__(self, storage: Storage, owner: str) -> None:
        assert isinstance(storage, ConditionalWriter)
        self.storage = storage
        self.writer: ConditionalWriter = storage
        self.owner = owner

    async def acquire(self, name: str, seconds: float) -> Lease | None:
        """The lease `name` for `seconds`, or None while another holder's lease runs."""
        key = LEASES_PREFIX + name
        lease = Lease(key, self.owner, time.time() + seconds)
        body = json.dumps({"owner": lease.owner, "until": lease.until}).encode()
        try:
            await self.writer.put_if_absent(key, iter_bytes(body))
            return lease
        except AlreadyExists:
            pass
        try:
            payload, etag = await read_versioned(self.storage, key)
            held = json.loads(payload)
            if float(held.get("until", 0)) > time.time() and held.get("owner") != self.owner:
                return None
            await self.writer.put_if_match(key, iter_bytes(body), etag)
            return lease
        except (NotFound, PreconditionFailed):
            return None  # released or taken meanwhile: let the next pass look again
        except (ValueError, TypeError, AttributeError):
            # An unreadable lease object: remove it, so the next pass can take a fresh one.
            await self.storage.delete(key)
            return None

    async def release(self, lease: Lease) -> None:
        """End our lease early (a crashed holder's simply runs out)."""
        try:
            payload, _ = await read_versioned(self.storage, lease.key)
        except NotFound:
            return
        try:
            owner = json.loads(payload).get("owner")
        except (ValueError, AttributeError):
            owner = None
        if owner == self.owner:
            await self.storage.delete(lease.key)

    async def sweep(self, prefix: str, grace: float) -> int:
        """Remove leases under `prefix` that ran out more than `grace` seconds ago (left by a
        holder that crashed after finishing its work, so nobody would take them again)."""
        removed = 0
        async for info in self.storage.list(LEASES_PREFIX + prefix):
            try:
                held = json.loads((await read_versioned(self.storage, info.key))[0])
                stale = float(held.get("until", 0)) + grace < time.time()
            except NotFound:
                continue
            except (ValueError, TypeError, AttributeError):
                stale = True
            if stale:
                await self.storage.delete(info.key)
                removed += 1
        return removed
