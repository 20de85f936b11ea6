"""Recording metadata in the bucket: session index, manifests, open-session markers.

Creation is create-if-absent (two replicas receiving the first chunk of a session end with one
recording); manifest updates are compare-and-swap loops. Open-session markers under
`_system/open-sessions/` let the reconciler find unfinished sessions without scanning every
recording.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

import anyio

from lite import ids, keys
from lite.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    NotFound,
    PreconditionFailed,
    ResourceNotFound,
)
from lite.manifest import Manifest, SessionIndex, now_iso
from lite.storage.base import ConditionalWriter, Storage, iter_bytes, read_all

OPEN_PREFIX = "_system/open-sessions/"
_CAS_ATTEMPTS = 50


class Catalog:
    def __init__(self, storage: Storage) -> None:
        assert isinstance(storage, ConditionalWriter), "backends must support conditional writes"
        self.storage = storage
        self.writer: ConditionalWriter = storage

    # --- sessions -------------------------------------------------------------------------------

    async def session(self, session_uid: str) -> SessionIndex | None:
        try:
            payload = await read_all(self.storage, keys.session_index_key(session_uid))
        except NotFound:
            return None
        return SessionIndex.from_json(payload)

    async def open_session(
        self, session_uid: str, user_id: int, meeting_id: str | None, source: str
    ) -> SessionIndex:
        """The session's index, creating the recording if the session is new (race-safe)."""
        existing = await self.session(session_uid)
        if existing is None:
            index = SessionIndex(
                session_uid, user_id, ids.new_recording_id(), meeting_id, source, now_iso()
            )
            try:
                await self.writer.put_if_absent(
                    keys.session_index_key(session_uid), iter_bytes(index.to_json())
                )
                existing = index
            except AlreadyExists:
                existing = await self.session(session_uid)
                if existing is None:  # deleted between the two calls
                    raise Conflict("session is being deleted; retry") from None
        if existing.user_id != user_id:
            raise Conflict("session_uid already belongs to another recording")
        await self.ensure_manifest(existing)
        return existing

    async def ensure_manifest(self, index: SessionIndex) -> None:
        """Write the manifest if a crash left only the index (idempotent)."""
        key = keys.manifest_key(index.user_id, index.recording_id)
        try:
            await self.writer.put_if_absent(key, iter_bytes(index.new_manifest().to_json()))
            await self.mark_open(index.session_uid)
        except AlreadyExists:
            pass

    async def mark_open(self, session_uid: str) -> None:
        key = OPEN_PREFIX + keys.check_token(session_uid, "session_uid")
        await self.storage.put(key, iter_bytes(b"{}"))

    async def mark_closed(self, session_uid: str) -> None:
        await self.storage.delete(OPEN_PREFIX + keys.check_token(session_uid, "session_uid"))

    async def open_sessions(self) -> list[str]:
        return [info.key[len(OPEN_PREFIX) :] async for info in self.storage.list(OPEN_PREFIX)]

    # --- manifests ------------------------------------------------------------------------------

    async def load(self, user_id: int, recording_id: int) -> tuple[Manifest, str]:
        key = keys.manifest_key(user_id, recording_id)
        reader = None
        try:
            reader = await self.storage.open_range(key)
            payload = b"".join([block async for block in reader])
        except NotFound:
            raise ResourceNotFound("recording not found") from None
        finally:
            if reader is not None:
                await reader.aclose()
        return Manifest.from_json(payload), reader.info.etag

    async def update(
        self, user_id: int, recording_id: int, change: Callable[[Manifest], None]
    ) -> Manifest:
        """Apply `change` with compare-and-swap, retrying on concurrent writers."""
        key = keys.manifest_key(user_id, recording_id)
        for attempt in range(_CAS_ATTEMPTS):
            manifest, etag = await self.load(user_id, recording_id)
            change(manifest)
            try:
                await self.writer.put_if_match(key, iter_bytes(manifest.to_json()), etag)
                return manifest
            except PreconditionFailed:
                await anyio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise Conflict("the recording is being changed by others; retry")

    # --- listing and deletion -------------------------------------------------------------------

    async def recording_ids(self, user_id: int) -> list[int]:
        names = await self.storage.list_children(keys.user_prefix(user_id))
        return sorted((int(n) for n in names if n.isdigit()), reverse=True)

    async def delete(self, user_id: int, recording_id: int) -> None:
        """Every object of the recording; the manifest last, so a crash leaves it visible."""
        manifest, _ = await self.load(user_id, recording_id)
        manifest_key = keys.manifest_key(user_id, recording_id)
        async for info in self.storage.list(keys.recording_prefix(user_id, recording_id)):
            if info.key != manifest_key:
                await self.storage.delete(info.key)
        await self.mark_closed(manifest.session_uid)
        index = await self.session(manifest.session_uid)
        if index is not None and index.recording_id == recording_id:
            await self.storage.delete(keys.session_index_key(manifest.session_uid))
        await self.storage.delete(manifest_key)


def encode_cursor(recording_id: int) -> str:
    return base64.urlsafe_b64encode(f"r{recording_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("r"):
            raise ValueError(text)
        return keys.check_id(text[1:])
    except (ValueError, UnicodeDecodeError, BadRequest):
        raise BadRequest("invalid cursor") from None
