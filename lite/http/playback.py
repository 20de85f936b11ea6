"""Playback: `/raw` with RFC 9110 ranges and conditionals, `/download` URLs.

GET and HEAD are decided in one place (`_respond`): the same status and headers, and the same
check that the bytes exist; only GET opens them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys, media, ranges, render
from lite.errors import StaleMedia
from lite.http.auth import require_user, require_viewer, services
from lite.http.recordings import base_url
from lite.http.streaming import MediaResponse, Part
from lite.playback import Source
from lite.services import Services

_WATCH_ABOVE = 1024 * 1024


# A player asks for the same file again and again: its date and file name render once.
@lru_cache(maxsize=1024)
def _http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@lru_cache(maxsize=1024)
def _disposition(filename: str, attachment: bool) -> str:
    return media.content_disposition(filename, attachment)


@lru_cache(maxsize=16)
def _private(max_age: int) -> str:
    return f"private, max-age={max_age}"


def _headers(found: Services, source: Source, disposition: str) -> list[tuple[str, str]]:
    cache = _private(found.settings.lite_cache_max_age) if source.immutable else "no-store"
    return [
        ("Accept-Ranges", "bytes"),
        ("ETag", source.etag),
        ("Last-Modified", _http_date(source.last_modified)),
        ("Cache-Control", cache),
        ("Content-Disposition", disposition),
        ("X-Content-Type-Options", "nosniff"),
    ]


def _decide(request: Request, found: Services, source: Source) -> ranges.Decision:
    # Straight from the scope: building `request.headers` first costs as much again.
    lowered = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]
    }
    return ranges.decide(
        lowered,
        source.size,
        source.etag,
        source.last_modified,
        found.settings.lite_max_ranges,
        date_is_strong=source.immutable,
    )


async def _respond(request: Request, source: Source, disposition: str) -> MediaResponse:
    """The answer to GET or HEAD: HEAD mirrors GET exactly, ranges and errors included."""
    found = services(request)
    decision = _decide(request, found, source)
    headers = _headers(found, source, disposition)
    body = request.method != "HEAD"
    if decision.status in (304, 412, 416):
        await source.check()
        if decision.status == 416:
            headers += [
                ("Content-Range", ranges.unsatisfied_range(source.size)),
                ("Content-Length", "0"),
            ]
        return MediaResponse(decision.status, headers, send_body=False)
    headers.append(("Content-Type", source.content_type))
    if decision.status == 200:
        spans = [ranges.ByteRange(0, source.size - 1)] if source.size else []
    else:
        spans = list(decision.ranges)
    # The first range opens before the headers go out, so a missing object is a clean error;
    # an answer that opens nothing checks that the bytes are there all the same.
    first = await source.open(spans[0].start, spans[0].end) if spans and body else None
    if first is None:
        await source.check()
    if len(spans) > 1:
        return _multipart(source, headers, spans, first, body)
    if decision.status == 206:
        headers.append(("Content-Range", ranges.content_range(spans[0], source.size)))
    headers.append(("Content-Length", str(sum(s.length for s in spans))))
    parts = [Part(b"", None)] if first is not None else []
    # A short body is sent in one go: watching for a disconnect would cost more than it saves.
    watch = bool(spans) and spans[0].length > _WATCH_ABOVE
    return MediaResponse(decision.status, headers, parts, first, send_body=body, watch=watch)


def _multipart(
    source: Source,
    headers: list[tuple[str, str]],
    spans: list[ranges.ByteRange],
    first: AsyncIterable[bytes] | None,
    body: bool,
) -> MediaResponse:
    plan = ranges.multipart_plan(spans, source.size, source.content_type, ranges.new_boundary())
    headers = [h for h in headers if h[0] != "Content-Type"]
    headers += [("Content-Type", plan.content_type), ("Content-Length", str(plan.content_length))]

    def opener(span: ranges.ByteRange) -> Callable[[], Awaitable[AsyncIterable[bytes]]]:
        return lambda: source.open(span.start, span.end)

    # The rest of the ranges open when their part is reached.
    parts = [Part(head, opener(span)) for head, span in plan.parts]
    return MediaResponse(206, headers, parts, first, plan.closing, send_body=body)


async def raw(request: Request) -> Response:
    recording_id = keys.check_id(request.path_params["recording_id"])
    media_id = keys.check_id(request.path_params["media_id"], "media_id")
    user_id = await require_viewer(request, recording_id, media_id)
    try:
        return await _serve(request, user_id, recording_id, media_id, fresh=False)
    except StaleMedia:  # a cached description met a rebuilt master: look again, once
        return await _serve(request, user_id, recording_id, media_id, fresh=True)


async def _serve(
    request: Request, user_id: int, recording_id: int, media_id: int, fresh: bool
) -> Response:
    source = await services(request).playback.source(user_id, recording_id, media_id, fresh)
    # Most requests carry no query: parsing an empty one costs as much as the rest of a seek.
    query = request.scope.get("query_string")
    attachment = bool(query) and request.query_params.get("download") in ("1", "true")
    disposition = _disposition(source.filename, attachment)
    return await _respond(request, source, disposition)


async def download(request: Request) -> Response:
    recording_id = keys.check_id(request.path_params["recording_id"])
    media_id = keys.check_id(request.path_params["media_id"], "media_id")
    user_id = await require_user(request)
    link = await services(request).playback.link(user_id, recording_id, media_id)
    return JSONResponse(render.download(link, recording_id, media_id, base_url(request)))


# Also served by lite.http.rawpath, which passes GET and HEAD straight to this route's endpoint.
RAW_ROUTE = Route("/recordings/{recording_id}/media/{media_id}/raw", raw, methods=["GET", "HEAD"])
routes = [
    RAW_ROUTE,
    Route("/recordings/{recording_id}/media/{media_id}/download", download, methods=["GET"]),
]
