"""Per-user webhook endpoints (`_system/webhooks/<user_id>/<id>.json`), managed by the admin API.

The signing secret is generated here and shown once, when the endpoint is created; listings
leave it out. It is kept in the store because every replica must sign with it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from lite import events, keys, ssrf
from lite.errors import BadRequest, NotFound, ResourceNotFound
from lite.manifest import now_iso
from lite.storage.base import Storage, iter_bytes, read_all

WEBHOOKS_PREFIX = "_system/webhooks/"
MAX_PER_USER = 20


@dataclass(frozen=True)
class Endpoint:
    id: str
    user_id: int
    url: str
    secret: str
    description: str
    created_at: str

    def public(self) -> dict[str, Any]:
        shown = asdict(self)
        del shown["secret"]
        return shown


def _key(user_id: int, endpoint_id: str) -> str:
    return f"{WEBHOOKS_PREFIX}{keys.check_id(user_id, 'user_id')}/{endpoint_id}.json"


def _check_id(endpoint_id: str) -> str:
    if not endpoint_id.startswith("ep_"):
        raise ResourceNotFound("webhook endpoint not found")
    keys.check_token(endpoint_id, "webhook id")
    return endpoint_id


class Endpoints:
    def __init__(self, storage: Storage, allow_private: bool) -> None:
        self.storage = storage
        self.allow_private = allow_private

    async def create(self, user_id: int, url: object, description: object = "") -> Endpoint:
        if not isinstance(url, str) or len(url) > 2048:
            raise BadRequest("url must be a string of at most 2048 characters")
        if not isinstance(description, str) or len(description) > 200:
            raise BadRequest("description must be a string of at most 200 characters")
        await ssrf.resolve(url, self.allow_private)
        if len(await self.list_for(user_id)) >= MAX_PER_USER:
            raise BadRequest(f"a user can have at most {MAX_PER_USER} webhook endpoints")
        endpoint = Endpoint(
            "ep_" + secrets.token_hex(10), user_id, url, events.new_secret(), description, now_iso()
        )
        body = json.dumps(asdict(endpoint)).encode()
        await self.storage.put(_key(user_id, endpoint.id), iter_bytes(body))
        return endpoint

    async def list_for(self, user_id: int) -> list[Endpoint]:
        """The user's endpoints, secrets included (callers decide what to show)."""
        prefix = f"{WEBHOOKS_PREFIX}{keys.check_id(user_id, 'user_id')}/"
        found = []
        async for info in self.storage.list(prefix):
            try:
                found.append(Endpoint(**json.loads(await read_all(self.storage, info.key))))
            except NotFound:
                continue  # deleted while listing
            except (ValueError, TypeError):
                continue  # not an endpoint record
        return sorted(found, key=lambda e: e.created_at)

    async def delete(self, user_id: int, endpoint_id: str) -> Endpoint:
        key = _key(user_id, _check_id(endpoint_id))
        try:
            endpoint = Endpoint(**json.loads(await read_all(self.storage, key)))
        except NotFound:
            raise ResourceNotFound("webhook endpoint not found") from None
        await self.storage.delete(key)
        return endpoint
