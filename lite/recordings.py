"""The recordings a user sees: listing with cursors, creation, deletion, media lookups.

Returns domain objects; their JSON shapes live in `lite.render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lite import ids, keys
from lite.catalog import Catalog, decode_cursor, encode_cursor
from lite.chunks import missing_seqs, walk_media
from lite.errors import BadRequest, Conflict, ResourceNotFound
from lite.events import DELETED_EVENT
from lite.manifest import FAILED, IN_PROGRESS, STATUSES, Manifest, MediaState, SessionIndex
from lite.outbox import Outbox
from lite.retention import RetentionPolicy, apply_retention
from lite.signing import SigningSecret
from lite.storage.base import Storage
from lite.tokens import UploadGrant, issue_upload_token

MAX_LIMIT = 200
_FINISHED_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class RecordingView:
    """A recording as its user sees it: media still in progress are described from the chunks."""

    manifest: Manifest
    live: dict[str, MediaState]
    expires_at: datetime | None = None  # effective expiry (None: kept forever)
    storage_backend: str = "local"  # local | minio | s3 (Vexa's field on media files)

    @property
    def media(self) -> list[MediaState]:
        states = {**self.manifest.media, **self.live}
        return [states[kind] for kind in sorted(states)]


@dataclass(frozen=True)
class RecordingPage:
    recordings: list[RecordingView]
    next_cursor: str | None


@dataclass(frozen=True)
class NewRecording:
    """A recording made through the API, with the token its recorder uploads with."""

    recording: RecordingView
    upload_token: str
    upload_token_expires_in: int


class Recordings:
    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        policy: RetentionPolicy | None = None,
        outbox: Outbox | None = None,
        secret: SigningSecret | None = None,
        upload_token_ttl: int = 3600,
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.storage_backend = "local"  # local | minio | s3; the app factory sets it
        self.policy = policy or RetentionPolicy(0)
        self.outbox = outbox
        self.secret = secret
        self.upload_token_ttl = upload_token_ttl
        self._finished: dict[tuple[int, int], Manifest] = {}

    async def live_media(self, manifest: Manifest) -> dict[str, MediaState]:
        """Media still in progress, described from the chunk objects (no writes)."""
        if manifest.status != IN_PROGRESS:
            return {}
        done = [kind for kind, state in manifest.media.items() if state.status != IN_PROGRESS]
        walked = await walk_media(
            self.storage, manifest.user_id, manifest.id, manifest.session_uid, skip=done
        )
        live: dict[str, MediaState] = {}
        for kind, chunks in walked.items():
            known = manifest.media.get(kind)
            final_seq = known.final_seq if known else None
            state = MediaState(kind, ids.media_file_id(manifest.id, kind), final_seq=final_seq)
            state.format = chunks[0].ext if chunks else None
            state.chunk_count = len(chunks)
            state.missing_chunks = missing_seqs(chunks, final_seq)
            state.created_at = known.created_at if known else manifest.created_at
            live[kind] = state
        return live

    async def view(self, manifest: Manifest) -> RecordingView:
        live = await self.live_media(manifest)
        expires = self.policy.expires_at(manifest)
        return RecordingView(manifest, live, expires, self.storage_backend)

    async def set_retention(
        self, user_id: int, recording_id: int, change: tuple[str | None, bool]
    ) -> RecordingView:
        """PATCH: a new expiry, kept forever, or back to the deployment's default."""
        manifest = await self.catalog.update(
            user_id, keys.check_id(recording_id), lambda m: apply_retention(m, change)
        )
        self._finished.pop((user_id, recording_id), None)
        return await self.view(manifest)

    async def get(self, user_id: int, recording_id: int) -> RecordingView:
        manifest, _ = await self.catalog.load(user_id, keys.check_id(recording_id))
        return await self.view(manifest)

    async def list(
        self,
        user_id: int,
        limit: int = 50,
        cursor: str | None = None,
        meeting_id: str | None = None,
        status: str | None = None,
        offset: int = 0,
    ) -> RecordingPage:
        """Newest first. `offset` (Vexa's paging) skips that many matches; `cursor` is ours."""
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        if offset < 0:
            raise BadRequest("offset must not be negative")
        before = decode_cursor(cursor) if cursor else None
        page: list[RecordingView] = []
        next_cursor = None
        for recording_id in await self.catalog.recording_ids(user_id):
            if before is not None and recording_id >= before:
                continue
            if len(page) == limit:
                next_cursor = encode_cursor(page[-1].manifest.id)
                break
            try:
                manifest, _ = await self.catalog.load(user_id, recording_id)
            except ResourceNotFound:
                continue  # deleted while listing
            if meeting_id is not None and manifest.meeting_id != meeting_id:
                continue
            if status is not None and manifest.status != status:
                continue
            if offset > 0:
                offset -= 1
                continue
            page.append(await self.view(manifest))
        return RecordingPage(page, next_cursor)

    async def create(
        self,
        user_id: int,
        meeting_id: str | None,
        session_uid: str | None,
        retention: tuple[str | None, bool] | None = None,
    ) -> SessionIndex:
        uid = keys.check_token(session_uid, "session_uid") if session_uid else ids.new_session_uid()
        index, created = await self.catalog.create_session(uid, user_id, meeting_id, "api")
        if not created:
            raise Conflict("session_uid is already in use")
        if retention is not None:
            change = retention
            await self.catalog.update(
                user_id, index.recording_id, lambda m: apply_retention(m, change)
            )
        return index

    async def create_for_upload(
        self,
        user_id: int,
        meeting_id: str | None,
        session_uid: str | None,
        retention: tuple[str | None, bool] | None = None,
    ) -> NewRecording:
        """A new recording and the upload token its recorder sends chunks with."""
        assert self.secret is not None, "upload tokens need the signing secret"
        index = await self.create(user_id, meeting_id, session_uid, retention)
        grant = UploadGrant(user_id, index.recording_id, index.session_uid)
        token = issue_upload_token(await self.secret.get(), grant, self.upload_token_ttl)
        recording = await self.get(user_id, index.recording_id)
        return NewRecording(recording, token, self.upload_token_ttl)

    async def delete(self, user_id: int, recording_id: int, in_progress_too: bool = True) -> None:
        """`in_progress_too=False` refuses a recording still receiving chunks (Vexa's DELETE)."""
        manifest, _ = await self.catalog.load(user_id, keys.check_id(recording_id))
        if manifest.status == IN_PROGRESS and not in_progress_too:
            # Like Vexa's meeting-api: a bot may still be sending; say so rather than race it.
            raise Conflict("the recording is still receiving chunks; DELETE with ?force=true")
        self._finished.pop((user_id, recording_id), None)
        if self.outbox is not None:
            await self.outbox.record_gone(manifest, DELETED_EVENT)  # before: a crash loses none
        await self.catalog.delete(user_id, keys.check_id(recording_id))
        if self.outbox is not None:
            self.outbox.committed()

    async def master(
        self, user_id: int, recording_id: int, media_type: str
    ) -> tuple[Manifest, MediaState]:
        """The media file of one type; during the meeting, what has arrived so far."""
        kind = keys.check_token(media_type, "type")
        manifest, _ = await self.catalog.load(user_id, keys.check_id(recording_id))
        state = {**manifest.media, **(await self.live_media(manifest))}.get(kind)
        if state is None or state.status == FAILED:
            raise ResourceNotFound(f"no {kind} file for this recording")
        return manifest, state

    async def media_state(
        self, user_id: int, recording_id: int, media_id: int, fresh: bool = False
    ) -> tuple[Manifest, MediaState]:
        """The recording and one of its media files (finished, or live from the chunks).

        Manifests of finished recordings are cached: playback then costs no metadata read.
        A cached entry is trusted only as far as the master it names is unchanged (the player
        compares etags and asks again with `fresh`), and a media id it lacks is looked up anew.
        """
        cache_key = (user_id, keys.check_id(recording_id))
        cached = None if fresh else self._finished.get(cache_key)
        if cached is not None:
            for state in cached.media.values():
                if state.id == media_id and state.status != IN_PROGRESS:
                    return cached, state
        manifest, _ = await self.catalog.load(user_id, recording_id)
        if manifest.status != IN_PROGRESS:
            if len(self._finished) >= _FINISHED_CACHE_LIMIT:
                self._finished.clear()
            self._finished[cache_key] = manifest
        states = {**manifest.media, **(await self.live_media(manifest))}
        for state in states.values():
            if state.id == media_id:
                return manifest, state
        raise ResourceNotFound("media file not found")
