"""What `/raw` and `/download` serve: a media file as a byte source, finished or live.

A finished media file is its master object; one still recording is assembled on the fly from the
chunks that have arrived. The HTTP layer decides ranges and conditionals on the `Source` and
never touches storage keys or chunks itself.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lite import keys, media
from lite.chunks import fingerprint, walk_media
from lite.errors import MediaUnplayable, StaleMedia
from lite.manifest import COMPLETED, FAILED, Manifest, MediaState
from lite.recordings import Recordings
from lite.signing import SigningSecret
from lite.storage.base import Presigner, Storage
from lite.tokens import sign_raw

Opener = Callable[[int, int], Awaitable[AsyncIterable[bytes]]]
_MASTERS_CACHED = 10_000  # as many as the recordings cache keeps manifests


async def _exists() -> None:
    return None


@dataclass(eq=False)  # compared and hashed by identity: a cached master's source is reused
class Source:
    """Bytes [start, end] of one media file, with its validators."""

    size: int
    etag: str  # strong, quoted
    last_modified: datetime
    content_type: str
    open: Opener
    filename: str = "recording.bin"
    # A live recording can change twice within one second: its date is then no validator, and
    # nothing about it may be cached.
    immutable: bool = True
    # Raises when the bytes are gone or changed, for answers that open nothing (HEAD, 304).
    check: Callable[[], Awaitable[None]] = _exists


@dataclass(frozen=True)
class DownloadLink:
    """Where a media file can be fetched without an API key, until `expires_at`."""

    filename: str
    content_type: str
    size: int | None
    ttl: int
    expires_at: int  # unix seconds
    presigned: tuple[str, str] | None  # (inline, attachment) URLs of the store itself, or
    signed_query: str | None  # the query that authorizes this server's /raw


def filename_of(manifest: Manifest, state: MediaState) -> str:
    kind = "" if state.media_type == "audio" else f"-{state.media_type}"
    return f"recording-{manifest.id}{kind}.{state.format or 'bin'}"


def _seconds(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def _parse_iso(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    return _seconds(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _master_key(manifest: Manifest, state: MediaState, ext: str) -> str:
    return keys.master_key(
        manifest.user_id, manifest.id, manifest.session_uid, state.media_type, ext
    )


class Playback:
    def __init__(
        self,
        storage: Storage,
        recordings: Recordings,
        secret: SigningSecret,
        link_ttl: int,
    ) -> None:
        self.storage = storage
        self.recordings = recordings
        self.secret = secret
        self.link_ttl = link_ttl
        # A finished master's source, by the media state it was made from: the recordings cache
        # hands out the same state object until the recording changes, and a new one after.
        self._masters: dict[tuple[int, int, int], tuple[MediaState, Source]] = {}

    async def source(
        self, user_id: int, recording_id: int, media_id: int, fresh: bool = False
    ) -> Source:
        """The media file's bytes. `fresh` skips cached descriptions (after StaleMedia)."""
        manifest, state = await self.recordings.media_state(user_id, recording_id, media_id, fresh)
        if state.status == FAILED:
            raise MediaUnplayable("; ".join(state.problems) or "this media file failed to assemble")
        if state.status == COMPLETED and state.format and state.size is not None:
            key = (user_id, recording_id, media_id)
            found = self._masters.get(key)
            if found is None or found[0] is not state:
                found = self._remember(
                    key, state, self._master(manifest, state, state.format, state.size)
                )
            return found[1]
        return await self._live(manifest, state)

    def _remember(
        self, key: tuple[int, int, int], state: MediaState, source: Source
    ) -> tuple[MediaState, Source]:
        if len(self._masters) >= _MASTERS_CACHED:
            self._masters.clear()
        self._masters[key] = (state, source)
        return state, source

    def _master(self, manifest: Manifest, state: MediaState, ext: str, size: int) -> Source:
        storage, key = self.storage, _master_key(manifest, state, ext)

        def check_etag(etag: str) -> None:
            if state.master_etag and etag != state.master_etag:
                raise StaleMedia(f"{key} was rebuilt (etag {etag} != {state.master_etag})")

        async def open_master(start: int, end: int) -> AsyncIterable[bytes]:
            reader = await storage.open_range(key, start, end)
            try:
                check_etag(reader.info.etag)
            except StaleMedia:
                await reader.aclose()
                raise
            return reader

        async def check() -> None:
            check_etag((await storage.stat(key)).etag)

        return Source(
            size=size,
            etag=f'"{state.sha256}"',
            last_modified=_parse_iso(state.finalized_at),
            content_type=media.content_type(ext, state.media_type),
            open=open_master,
            filename=filename_of(manifest, state),
            check=check,
        )

    async def _live(self, manifest: Manifest, state: MediaState) -> Source:
        """Still recording: what has arrived, assembled on the fly from the chunks."""
        from lite.assemble import make_plan, stream_plan  # loaded on first use, not at start-up

        storage, kind = self.storage, state.media_type
        walked = await walk_media(
            storage, manifest.user_id, manifest.id, manifest.session_uid, only=[kind]
        )
        chunks = walked[kind]
        plan = await make_plan(storage, chunks)
        if not plan.playable:
            raise MediaUnplayable("; ".join(plan.problems) or "nothing to play yet")

        async def open_live(start: int, end: int) -> AsyncIterable[bytes]:
            return stream_plan(storage, plan, start, end)

        return Source(
            size=plan.size,
            etag=f'"live-{fingerprint(chunks)[:40]}"',  # changes with every chunk that arrives
            last_modified=_seconds(max(c.info.modified for c in chunks)),
            content_type=media.content_type(plan.ext, kind),
            open=open_live,
            filename=filename_of(manifest, state),
            immutable=False,
        )

    async def link(self, user_id: int, recording_id: int, media_id: int) -> DownloadLink:
        """A time-limited link: presigned by the store for a finished file when it can, else
        a signed query for this server's /raw."""
        manifest, state = await self.recordings.media_state(user_id, recording_id, media_id)
        if state.status == FAILED:
            raise MediaUnplayable("; ".join(state.problems) or "this media file failed to assemble")
        ttl = self.link_ttl
        expires = int(time.time()) + ttl
        name = filename_of(manifest, state)
        ctype = state.content_type or "application/octet-stream"
        storage = self.storage
        presigned = signed = None
        if state.status == COMPLETED and state.format and isinstance(storage, Presigner):
            key = _master_key(manifest, state, state.format)
            inline = media.content_disposition(name, False)
            url = await storage.presign_get(key, ttl, ctype, inline)
            save = await storage.presign_get(key, ttl, ctype, media.content_disposition(name, True))
            presigned = (url, save)
        else:
            secret = await self.secret.get()
            signed = sign_raw(secret, user_id, recording_id, media_id, expires)
        return DownloadLink(name, ctype, state.size, ttl, expires, presigned, signed)
