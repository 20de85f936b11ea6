"""API keys: stored hashed under `_system/api-keys/`, resolved to a user id.

Only the sha256 of a key is stored; a lookup hashes the presented key and reads the record named
by the hash, so nothing compares secrets byte by byte. A small in-process cache keeps a request
from costing a storage read; a revocation is seen at once by the replica that made it and within
`CACHE_SECONDS` by the others.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from lite import keys
from lite.errors import NotFound, ResourceNotFound, Unauthorized
from lite.logs import bind_request
from lite.owners import check_owner
from lite.storage.base import Storage, iter_bytes, read_all

KEY_PREFIX = "vxl_"
ID_LENGTH = 20  # leading hex digits of the hash that name a key publicly
CACHE_SECONDS = 30.0
NEGATIVE_CACHE_SECONDS = 5.0
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class ApiKey:
    id: str
    user_id: int
    name: str
    created_at: str
    key_sha256: str

    def public(self) -> dict[str, object]:
        data = asdict(self)
        del data["key_sha256"]
        return data


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def create(self, user_id: int, name: str = "") -> tuple[str, ApiKey]:
        """Make a key for user_id; the plain key is returned this once and never stored."""
        user_id = check_owner(user_id)  # user 0 holds the unassigned recordings
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(plain)
        created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        record = ApiKey(digest[:ID_LENGTH], user_id, name[:200], created, digest)
        payload = json.dumps(asdict(record)).encode()
        await self.storage.put(keys.api_key_record_key(digest), iter_bytes(payload))
        return plain, record

    async def resolve(self, presented: str) -> ApiKey:
        """The key record of a presented key, or Unauthorized."""
        if not presented or len(presented) > 200:
            raise Unauthorized("missing or invalid API key")
        digest = hash_key(presented)
        record = await self._lookup(digest)
        if record is None or not hmac.compare_digest(record.key_sha256, digest):
            raise Unauthorized("missing or invalid API key")
        bind_request(user_id=record.user_id)  # the access line names the caller
        return record

    async def _lookup(self, digest: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        try:
            record: ApiKey | None = _parse(
                await read_all(self.storage, keys.api_key_record_key(digest))
            )
        except NotFound:
            record = None
        ttl = CACHE_SECONDS if record else NEGATIVE_CACHE_SECONDS
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (now + ttl, record)
        return record

    async def list_for(self, user_id: int) -> list[ApiKey]:
        found = []
        async for info in self.storage.list(keys.API_KEYS_PREFIX):
            record = await self._read(info.key)
            if record and record.user_id == user_id:
                found.append(record)
        found.sort(key=lambda r: r.created_at)
        return found

    async def any_exist(self) -> bool:
        async for _ in self.storage.list(keys.API_KEYS_PREFIX):
            return True
        return False

    async def revoke(self, key_id: str) -> ApiKey:
        if (
            not key_id
            or len(key_id) != ID_LENGTH
            or not all(c in "0123456789abcdef" for c in key_id)
        ):
            raise ResourceNotFound("no such API key")
        async for info in self.storage.list(keys.API_KEYS_PREFIX + key_id):
            record = await self._read(info.key)
            if record:
                await self.storage.delete(info.key)
                self._cache.pop(record.key_sha256, None)
                return record
        raise ResourceNotFound("no such API key")

    async def _read(self, key: str) -> ApiKey | None:
        try:
            return _parse(await read_all(self.storage, key))
        except NotFound:
            return None


def _parse(payload: bytes) -> ApiKey | None:
    try:
        data = json.loads(payload)
        return ApiKey(
            str(data["id"]),
            int(data["user_id"]),
            str(data.get("name", "")),
            str(data["created_at"]),
            str(data["key_sha256"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # a damaged record authenticates nobody


def admin_allowed(configured: str, presented: str | None) -> bool:
    """Constant-time check of X-Admin-API-Key; an unset ADMIN_API_TOKEN disables the admin API."""
    if not configured or not presented:
        return False
    return hmac.compare_digest(configured.encode(), presented.encode())
