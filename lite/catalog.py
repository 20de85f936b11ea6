"""Recording metadata in the bucket: session index, manifests, open-session markers.

Creation is create-if-absent (two replicas receiving the first chunk of a session end with one
recording); manifest updates are compare-and-swap loops. Open-session markers under
`_system/open-sessions/` let the reconciler find unfinished sessions without scanning every
recording.
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable
from typing import Protocol

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
_INDEX_CACHE_LIMIT = 4096
_ID_ATTEMPTS = 8


class SessionGone(Conflict):
    """The recording behind a (cached) session index was deleted meanwhile."""


class RecordingIdTaken(Conflict):
    """A new session drew a recording id that another session of the user already holds."""


class Journal(Protocol):
    async def before_commit(self, before: Manifest, after: Manifest) -> None:
        """Called between computing a manifest change and storing it (the webhook outbox)."""
        ...

    def committed(self) -> None:
        """Called once a change is stored."""
        ...


class Catalog:
    def __init__(self, storage: Storage, journal: Journal | None = None) -> None:
        assert isinstance(storage, ConditionalWriter), "backends must support conditional writes"
        self.storage = storage
        self.writer: ConditionalWriter = storage
        self.journal = journal
        # Parsed session indexes with their etags: another replica may delete a session and its
        # uid be claimed again, so a cached index is used only while its etag is still stored.
        self._indexes: dict[str, tuple[SessionIndex, str]] = {}

    # --- sessions -------------------------------------------------------------------------------

    async def session(self, session_uid: str) -> SessionIndex | None:
        key = keys.session_index_key(session_uid)
        cached = self._indexes.get(session_uid)
        if cached is not None:
            try:
                current = (await self.storage.stat(key)).etag
            except NotFound:
                self._indexes.pop(session_uid, None)
                return None
            if current == cached[1]:
                return cached[0]
        try:
            payload, etag = await _read_with_etag(self.storage, key)
        except NotFound:
            self._indexes.pop(session_uid, None)
            return None
        index = SessionIndex.from_json(payload)
        self._remember(index, etag)
        return index

    def _remember(self, index: SessionIndex, etag: str) -> None:
        if len(self._indexes) >= _INDEX_CACHE_LIMIT:
            self._indexes.clear()
        self._indexes[index.session_uid] = (index, etag)

    def forget(self, session_uid: str) -> None:
        self._indexes.pop(session_uid, None)

    async def open_session(
        self, session_uid: str, user_id: int, meeting_id: str | None, source: str
    ) -> SessionIndex:
        """The session's index, creating the recording if the session is new (race-safe)."""
        existing = await self.session(session_uid)
        return await self.join_session(existing, session_uid, user_id, meeting_id, source)

    async def join_session(
        self,
        existing: SessionIndex | None,
        session_uid: str,
        user_id: int,
        meeting_id: str | None,
        source: str,
    ) -> SessionIndex:
        """`open_session` for a caller that has just looked the session up (`existing`, or None
        when absent): a chunk costs one lookup of its session, not two."""
        if existing is None:
            existing, _ = await self.create_session(session_uid, user_id, meeting_id, source)
        if existing.user_id != user_id:
            raise Conflict("session_uid already belongs to another recording")
        return existing

    async def create_session(
        self, session_uid: str, user_id: int, meeting_id: str | None, source: str
    ) -> tuple[SessionIndex, bool]:
        """Claim the session: (index, True) when we made it, else the existing one and False.

        The session index, written create-if-absent, is the one atomic claim: a crash at any
        instant leaves either no claim or a claim whose marker and manifest are written (again)
        by the next request or the reconciler (`ensure_recording`), so a session never splits
        into two recordings."""
        key = keys.session_index_key(session_uid)
        etag: str | None = None  # our claim's, once made
        for _ in range(_ID_ATTEMPTS):
            index = SessionIndex(
                session_uid, user_id, ids.new_recording_id(), meeting_id, source, now_iso()
            )
            try:
                if etag is None:
                    info = await self.writer.put_if_absent(key, iter_bytes(index.to_json()))
                else:  # our claim named a taken id: no chunk can use it yet, so redraw in place
                    info = await self.writer.put_if_match(key, iter_bytes(index.to_json()), etag)
            except (AlreadyExists, PreconditionFailed):
                other = await self.session(session_uid)
                if other is None:  # deleted between the two calls
                    raise Conflict("session is being deleted; retry") from None
                await self.ensure_recording(other)
                return other, False
            etag = info.etag
            self._remember(index, etag)
            try:
                await self.ensure_recording(index)
            except RecordingIdTaken:
                self.forget(session_uid)
                continue
            return index, True
        raise Conflict("could not allocate a recording id; retry")

    async def ensure_recording(self, index: SessionIndex) -> None:
        """The claim's open-session marker, then its manifest, both written if missing: this
        finishes a creation that a crash cut short. RecordingIdTaken when the id belongs to
        another session."""
        key = keys.manifest_key(index.user_id, index.recording_id)
        try:
            await self.storage.stat(key)
        except NotFound:
            await self.mark_open(index)
            try:
                await self.writer.put_if_absent(key, iter_bytes(index.new_manifest().to_json()))
                return
            except AlreadyExists:
                pass
        manifest, _ = await self.load(index.user_id, index.recording_id)
        if manifest.session_uid != index.session_uid:
            raise RecordingIdTaken(f"recording {index.recording_id} belongs to another session")

    async def load_session_manifest(self, index: SessionIndex) -> tuple[Manifest, str]:
        """The session's manifest, written first when a crash during creation left it missing.
        A session whose index is gone or names another recording was deleted meanwhile (our
        index was stale): SessionGone."""
        for _ in range(2):
            try:
                manifest, etag = await self.load(index.user_id, index.recording_id)
            except ResourceNotFound:
                manifest, etag = None, ""
            if manifest is not None and manifest.session_uid == index.session_uid:
                return manifest, etag
            self.forget(index.session_uid)
            fresh = await self.session(index.session_uid)
            if fresh is None or fresh.recording_id != index.recording_id:
                raise SessionGone("the session's recording was deleted")
            await self.ensure_recording(fresh)
        raise SessionGone("the session's recording was deleted")

    async def mark_open(self, index: SessionIndex) -> None:
        """The marker holds the index, so an orphan of a crash during creation can be found."""
        key = OPEN_PREFIX + keys.check_token(index.session_uid, "session_uid")
        await self.storage.put(key, iter_bytes(index.to_json()))

    async def mark_closed(self, session_uid: str) -> None:
        await self.storage.delete(OPEN_PREFIX + keys.check_token(session_uid, "session_uid"))

    async def open_sessions(self) -> list[str]:
        return [info.key[len(OPEN_PREFIX) :] async for info in self.storage.list(OPEN_PREFIX)]

    async def open_marker(self, session_uid: str) -> SessionIndex | None:
        key = OPEN_PREFIX + keys.check_token(session_uid, "session_uid")
        try:
            return SessionIndex.from_json(await read_all(self.storage, key))
        except (NotFound, ValueError, TypeError):
            return None

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
            before = copy.deepcopy(manifest) if self.journal is not None else None
            change(manifest)
            if self.journal is not None and before is not None:
                await self.journal.before_commit(before, manifest)
            try:
                await self.writer.put_if_match(key, iter_bytes(manifest.to_json()), etag)
                if self.journal is not None:
                    self.journal.committed()
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
        prefix = keys.recording_prefix(user_id, recording_id)
        directories = {prefix}
        async for info in self.storage.list(prefix):
            directories.update(_parents(info.key, prefix))
            if info.key != manifest_key:
                await self.storage.delete(info.key)
        await self.mark_closed(manifest.session_uid)
        self.forget(manifest.session_uid)
        index = await self.session(manifest.session_uid)
        if index is not None and index.recording_id == recording_id:
            await self.storage.delete(keys.session_index_key(manifest.session_uid))
        self.forget(manifest.session_uid)
        await self.storage.delete(manifest_key)
        for directory in sorted(directories, key=len, reverse=True):  # deepest first
            await self.storage.delete(directory)


async def _read_with_etag(storage: Storage, key: str) -> tuple[bytes, str]:
    reader = await storage.open_range(key)
    try:
        payload = b"".join([block async for block in reader])
    finally:
        await reader.aclose()
    return payload, reader.info.etag


def _parents(key: str, top: str) -> set[str]:
    """The "directories" of key below top, e.g. `top/a/` and `top/a/b/` for `top/a/b/c`."""
    parts = key[len(top) :].split("/")[:-1]
    return {top + "/".join(parts[: n + 1]) + "/" for n in range(len(parts))}


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
