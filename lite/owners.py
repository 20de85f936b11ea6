"""Recordings whose owner could not be resolved (Vexa's bot with the internal secret for a session
nobody registered) and handing them to their owner. docs/vexa.md says who owns a chunk.

Such a recording is kept under the reserved user id 0, which no API key can belong to, so no user
sees it; the admin lists these recordings and assigns each one to a user, which moves its objects
under the new owner's prefix.
"""

from __future__ import annotations

import contextlib
import logging

from lite import keys
from lite.catalog import Catalog
from lite.errors import AlreadyExists, BadRequest, Conflict, ResourceNotFound
from lite.manifest import Manifest, SessionIndex
from lite.storage.base import ConditionalWriter, Storage, iter_bytes, read_all

UNASSIGNED = 0
_MOVE_PASSES = 5
log = logging.getLogger("lite.owners")


def check_owner(user_id: object, what: str = "user_id") -> int:
    """A user id that may own recordings (not the reserved unassigned id)."""
    value = keys.check_id(user_id, what)
    if value == UNASSIGNED:
        raise BadRequest(f"{what} 0 is reserved for recordings without an owner")
    return value


class Owners:
    def __init__(self, storage: Storage, catalog: Catalog) -> None:
        assert isinstance(storage, ConditionalWriter)
        self.storage = storage
        self.writer: ConditionalWriter = storage
        self.catalog = catalog

    async def unassigned(self) -> list[Manifest]:
        found = []
        for recording_id in await self.catalog.recording_ids(UNASSIGNED):
            try:
                manifest, _ = await self.catalog.load(UNASSIGNED, recording_id)
            except ResourceNotFound:
                continue  # assigned or deleted while listing
            found.append(manifest)
        return found

    async def assign(self, recording_id: int, user_id: int) -> Manifest:
        """Hand an unassigned recording to `user_id`."""
        manifest, _ = await self.catalog.load(UNASSIGNED, keys.check_id(recording_id))
        return await self._hand_over(manifest, check_owner(user_id))

    async def register(
        self, session_uid: str, user_id: int, meeting_id: str | None
    ) -> tuple[SessionIndex, bool]:
        """The launcher's registration of a bot session; (index, True) when it made it. The
        launcher is entitled to name the owner: a session that a bot started before it was
        registered (unassigned), or that a user claimed through `POST /recordings` for a uid
        that is not theirs, is handed over. Two trusted owners for one uid are a conflict."""
        index, created = await self.catalog.create_session(session_uid, user_id, meeting_id, "bot")
        if created or index.user_id == user_id:
            return index, created
        if index.user_id != UNASSIGNED and index.source != "api":
            raise Conflict("session_uid is registered to another user")
        manifest, _ = await self.catalog.load(index.user_id, index.recording_id)
        log.warning(
            "session %s registered for user %s: taken over from user %s",
            session_uid,
            user_id,
            index.user_id,
        )
        await self._hand_over(manifest, user_id)
        fresh = await self.catalog.session(session_uid)
        if fresh is None:
            raise Conflict("the session was deleted meanwhile; retry")
        return fresh, False

    async def _hand_over(self, manifest: Manifest, user_id: int) -> Manifest:
        """Move a recording to `user_id`. The session index is switched first, so chunks arriving
        meanwhile go to the new owner; objects are copied, then removed."""
        index = await self.catalog.session(manifest.session_uid)
        if index is None or index.recording_id != manifest.id:
            raise Conflict("the recording's session is being deleted; retry")
        moved = SessionIndex(
            index.session_uid,
            user_id,
            index.recording_id,
            index.meeting_id,
            index.source,
            index.created_at,
        )
        await self._switch_index(index, moved)
        await self._move_objects(manifest.id, manifest.user_id, user_id)
        log.info("recording %s handed to user %s", manifest.id, user_id)
        new, _ = await self.catalog.load(user_id, manifest.id)
        return new

    async def _switch_index(self, old: SessionIndex, new: SessionIndex) -> None:
        key = keys.session_index_key(old.session_uid)
        etag = (await self.storage.stat(key)).etag
        await self.writer.put_if_match(key, iter_bytes(new.to_json()), etag)
        self.catalog.forget(old.session_uid)
        if await self.catalog.open_marker(old.session_uid) is not None:
            await self.catalog.mark_open(new)

    async def _move_objects(self, recording_id: int, from_user: int, user_id: int) -> None:
        old_prefix = keys.recording_prefix(from_user, recording_id)
        new_prefix = keys.recording_prefix(user_id, recording_id)
        manifest_key = keys.manifest_key(from_user, recording_id)
        etags: dict[str, str] = {}  # old key -> the copy's etag (masters are named by etag)
        # Again until nothing is left: a chunk that resolved the old index just before the switch
        # may land under the old prefix while we copy.
        for _ in range(_MOVE_PASSES):
            found = [info.key async for info in self.storage.list(old_prefix)]
            if not found:
                return
            for key in sorted(found, key=lambda k: k == manifest_key):  # the manifest last
                target = new_prefix + key[len(old_prefix) :]
                if key == manifest_key:
                    await self._move_manifest(key, target, from_user, user_id, etags)
                else:
                    etags[key] = await self._move(key, target)
        raise Conflict("chunks keep arriving under the old owner; retry")

    async def _move(self, key: str, target: str) -> str:
        reader = await self.storage.open_range(key)
        metadata = dict(reader.info.metadata)
        try:
            info = await self.writer.put_if_absent(target, reader, lambda: metadata)
            etag = info.etag
        except AlreadyExists:  # moved by an earlier pass, or written there after the switch
            etag = (await self.storage.stat(target)).etag
        finally:
            await reader.aclose()
        await self.storage.delete(key)
        return etag

    async def _move_manifest(
        self, key: str, target: str, from_user: int, user_id: int, etags: dict[str, str]
    ) -> None:
        manifest = Manifest.from_json(await read_all(self.storage, key))
        for state in manifest.media.values():
            if state.format is None:
                continue
            old = keys.master_key(
                from_user, manifest.id, manifest.session_uid, state.media_type, state.format
            )
            if old in etags:
                state.master_etag = etags[old]
        manifest.user_id = user_id
        with contextlib.suppress(AlreadyExists):  # an earlier pass wrote it
            await self.writer.put_if_absent(target, iter_bytes(manifest.to_json()))
        await self.storage.delete(key)
