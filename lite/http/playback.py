"""Playback: `/raw` with RFC 9110 ranges and conditionals, `/download` URLs (DESIGN §5)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys, media, ranges
from lite.assemble import make_plan, stream_plan
from lite.chunks import fingerprint, list_chunks
from lite.errors import MediaUnplayable, StaleMedia, Unauthorized
from lite.http.auth import services
from lite.http.recordings import base_url
from lite.http.streaming import MediaResponse, Part
from lite.logs import bind_request
from lite.manifest import COMPLETED, FAILED, Manifest, MediaState
from lite.storage.base import Presigner
from lite.tokens import sign_raw, verify_raw

_WATCH_ABOVE = 1024 * 1024


@dataclass
class Source:
    size: int
    etag: str  # strong, quoted
    last_modified: datetime
    content_type: str
    cache_control: str
    open: Callable[[int, int], Awaitable[AsyncIterable[bytes]]]
    # A live recording can change twice within one second: its date is then no validator.
    immutable: bool = True


def filename_of(manifest: Manifest, state: MediaState) -> str:
    kind = "" if state.media_type == "audio" else f"-{state.media_type}"
    return f"recording-{manifest.id}{kind}.{state.format or 'bin'}"


async def _caller(request: Request, recording_id: int, media_id: int) -> int:
    """X-API-Key, or a signed URL bound to this recording and media file."""
    found = services(request)
    if "x-api-key" in request.headers:
        return (await found.api_keys.resolve(request.headers["x-api-key"])).user_id
    if "sig" in request.query_params:
        query = dict(request.query_params)
        user_id = verify_raw(await found.secret.get(), query, recording_id, media_id)
        bind_request(user_id=user_id)  # named in the access line
        return user_id
    raise Unauthorized("send X-API-Key or use a signed URL from /download")


def _seconds(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def _parse_iso(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    return _seconds(datetime.fromisoformat(text.replace("Z", "+00:00")))


async def _source(request: Request, manifest: Manifest, state: MediaState) -> Source:
    if state.status == FAILED:
        raise MediaUnplayable("; ".join(state.problems) or "this media file failed to assemble")
    if state.status == COMPLETED and state.format and state.size is not None:
        return _master_source(request, manifest, state, state.format, state.size)
    return await _live_source(request, manifest, state)


def _master_source(
    request: Request, manifest: Manifest, state: MediaState, ext: str, size: int
) -> Source:
    found = services(request)
    storage = found.storage
    key = keys.master_key(
        manifest.user_id, manifest.id, manifest.session_uid, state.media_type, ext
    )

    async def open_master(start: int, end: int) -> AsyncIterable[bytes]:
        reader = await storage.open_range(key, start, end)
        if state.master_etag and reader.info.etag != state.master_etag:
            await reader.aclose()
            raise StaleMedia("the media file was rebuilt; ask again")
        return reader

    return Source(
        size=size,
        etag=f'"{state.sha256}"',
        last_modified=_parse_iso(state.finalized_at),
        content_type=media.content_type(ext, state.media_type),
        cache_control=f"private, max-age={found.settings.lite_cache_max_age}",
        open=open_master,
    )


async def _live_source(request: Request, manifest: Manifest, state: MediaState) -> Source:
    """Still recording: serve what has arrived, assembled on the fly from the chunks."""
    storage = services(request).storage
    chunks = await list_chunks(
        storage, manifest.user_id, manifest.id, manifest.session_uid, state.media_type
    )
    plan = await make_plan(storage, chunks)
    if not plan.playable:
        raise MediaUnplayable("; ".join(plan.problems) or "nothing to play yet")

    async def open_live(start: int, end: int) -> AsyncIterable[bytes]:
        return stream_plan(storage, plan, start, end)

    return Source(
        size=plan.size,
        etag=f'"live-{fingerprint(chunks)[:40]}"',  # changes with every chunk that arrives
        last_modified=_seconds(max(c.info.modified for c in chunks)),
        content_type=media.content_type(plan.ext, state.media_type),
        cache_control="no-store",
        open=open_live,
        immutable=False,
    )


def _headers(source: Source, disposition: str) -> list[tuple[str, str]]:
    return [
        ("Accept-Ranges", "bytes"),
        ("ETag", source.etag),
        ("Last-Modified", format_datetime(source.last_modified, usegmt=True)),
        ("Cache-Control", source.cache_control),
        ("Content-Disposition", disposition),
        ("X-Content-Type-Options", "nosniff"),
    ]


async def _respond(request: Request, source: Source, disposition: str) -> MediaResponse:
    lowered = {k.lower(): v for k, v in request.headers.items()}
    max_ranges = services(request).settings.lite_max_ranges
    # HEAD mirrors GET exactly (DESIGN §5), ranges included.
    decision = ranges.decide(
        lowered,
        source.size,
        source.etag,
        source.last_modified,
        max_ranges,
        date_is_strong=source.immutable,
    )
    headers = _headers(source, disposition)
    body = request.method != "HEAD"
    if decision.status in (304, 412):
        return MediaResponse(decision.status, headers, send_body=False)
    if decision.status == 416:
        headers += [
            ("Content-Range", ranges.unsatisfied_range(source.size)),
            ("Content-Length", "0"),
        ]
        return MediaResponse(416, headers, send_body=False)
    headers.append(("Content-Type", source.content_type))
    if decision.status == 200:
        spans = [ranges.ByteRange(0, source.size - 1)] if source.size else []
    else:
        spans = list(decision.ranges)
    if len(spans) > 1:
        return await _multipart(source, headers, spans, body)
    if decision.status == 206:
        headers.append(("Content-Range", ranges.content_range(spans[0], source.size)))
    headers.append(("Content-Length", str(sum(s.length for s in spans))))
    first = await source.open(spans[0].start, spans[0].end) if spans and body else None
    parts = [Part(b"", None)] if first is not None else []
    # A short body is sent in one go: watching for a disconnect would cost more than it saves.
    watch = bool(spans) and spans[0].length > _WATCH_ABOVE
    return MediaResponse(decision.status, headers, parts, first, send_body=body, watch=watch)


async def _multipart(
    source: Source, headers: list[tuple[str, str]], spans: list[ranges.ByteRange], body: bool
) -> MediaResponse:
    plan = ranges.multipart_plan(spans, source.size, source.content_type, ranges.new_boundary())
    headers = [h for h in headers if h[0] != "Content-Type"]
    headers += [("Content-Type", plan.content_type), ("Content-Length", str(plan.content_length))]

    def opener(span: ranges.ByteRange) -> Callable[[], Awaitable[AsyncIterable[bytes]]]:
        return lambda: source.open(span.start, span.end)

    # The first range opens before the headers go out; the rest when their part is reached.
    first = await source.open(spans[0].start, spans[0].end) if body else None
    parts = [Part(head, opener(span)) for head, span in plan.parts]
    return MediaResponse(206, headers, parts, first, plan.closing, send_body=body)


async def raw(request: Request) -> Response:
    recording_id = keys.check_id(request.path_params["recording_id"])
    media_id = keys.check_id(request.path_params["media_id"], "media_id")
    user_id = await _caller(request, recording_id, media_id)
    try:
        return await _serve(request, user_id, recording_id, media_id, fresh=False)
    except StaleMedia:  # a cached description met a rebuilt master: look again, once
        return await _serve(request, user_id, recording_id, media_id, fresh=True)


async def _serve(
    request: Request, user_id: int, recording_id: int, media_id: int, fresh: bool
) -> Response:
    recordings = services(request).recordings
    manifest, state = await recordings.media_state(user_id, recording_id, media_id, fresh)
    source = await _source(request, manifest, state)
    attachment = request.query_params.get("download") in ("1", "true")
    disposition = media.content_disposition(filename_of(manifest, state), attachment)
    return await _respond(request, source, disposition)


async def download(request: Request) -> Response:
    found = services(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    media_id = keys.check_id(request.path_params["media_id"], "media_id")
    user_id = (await found.api_keys.resolve(request.headers.get("x-api-key", ""))).user_id
    manifest, state = await found.recordings.media_state(user_id, recording_id, media_id)
    if state.status == FAILED:
        raise MediaUnplayable("; ".join(state.problems) or "this media file failed to assemble")
    ttl = found.settings.lite_download_url_ttl_seconds
    expires = int(time.time()) + ttl
    name = filename_of(manifest, state)
    ctype = state.content_type or "application/octet-stream"
    storage = found.storage
    if state.status == COMPLETED and state.format and isinstance(storage, Presigner):
        key = keys.master_key(
            manifest.user_id, manifest.id, manifest.session_uid, state.media_type, state.format
        )
        url = await storage.presign_get(key, ttl, ctype, media.content_disposition(name, False))
        save = await storage.presign_get(key, ttl, ctype, media.content_disposition(name, True))
    else:
        query = sign_raw(await found.secret.get(), user_id, recording_id, media_id, expires)
        url = f"{base_url(request)}/recordings/{recording_id}/media/{media_id}/raw?{query}"
        save = url + "&download=1"
    return JSONResponse(
        {
            "url": url,
            "download_url": save,
            "filename": name,
            "content_type": ctype,
            "file_size_bytes": state.size,
            "expires_in": ttl,
            "expires_at": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
        }
    )


routes = [
    Route("/recordings/{recording_id}/media/{media_id}/raw", raw, methods=["GET", "HEAD"]),
    Route("/recordings/{recording_id}/media/{media_id}/download", download, methods=["GET"]),
]
