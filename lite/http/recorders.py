"""The two ingest doors (a PUT per chunk, Vexa's multipart upload) and the session status and
finalize calls for recorders."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive

from lite import keys, media, render
from lite.budget import ByteBudget
from lite.errors import BadRequest, PayloadTooLarge
from lite.http.auth import require_uploader, services
from lite.http.bodies import json_object
from lite.ingest import ChunkIn, Received, Uploader

_FALSE = ("false", "0", "no", "off")
_MULTIPART_OVERHEAD = 1024 * 1024  # form fields and boundaries around the file part
# A longer body streams through to storage: at most this much of it is in memory at once (the
# copy kept to replace a damaged stored chunk, and a backend's write buffer or part).
_HELD_AT_MOST = 16 * 1024 * 1024


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")


def _limited_receive(receive: Receive, limit: int) -> Receive:
    """Count body bytes as they arrive; stop at the limit without buffering the rest."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise PayloadTooLarge(f"body larger than {limit} bytes")
        return message

    return wrapped


@contextlib.contextmanager
def _held(request: Request, budget: ByteBudget) -> Iterator[Request]:
    """The request, its body held against the chunk memory budget until it is answered: the
    declared length before a byte is read (503 Busy when it does not fit), else the bytes as
    they arrive."""
    held = 0

    def hold(amount: int) -> None:
        nonlocal held
        amount = min(amount, _HELD_AT_MOST - held)
        if amount > 0:
            budget.take(amount)
            held += amount

    async def counting() -> Message:
        message = await request.receive()
        hold(len(message.get("body", b"")))
        return message

    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        hold(int(declared))
    try:
        yield Request(request.scope, request.receive if held else counting)
    finally:
        budget.give_back(held)


def _flag(value: object, default: bool) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() not in _FALSE


def _stored(result: Received) -> Response:
    return JSONResponse(render.received(result), status_code=200 if result.duplicate else 201)


async def put_chunk(request: Request) -> Response:
    found = services(request)
    _check_length(request, found.settings.lite_max_chunk_bytes)
    who = await require_uploader(request, request.query_params.get("user_id"))
    params = request.path_params
    ext = request.query_params.get("format") or media.ext_from_content_type(
        request.headers.get("content-type")
    )
    if not ext:
        raise BadRequest("say the format: a media Content-Type (e.g. audio/wav) or ?format=")
    who = _with_meeting(who, request.query_params.get("meeting_id"))
    with _held(request, found.ingest.memory) as held:
        chunk = ChunkIn(
            session_uid=params["session_uid"],
            media_type=keys.check_token(params["media_type"], "media_type"),
            seq=keys.check_id(params["seq"], "chunk_seq"),
            ext=keys.check_ext(ext),
            body=held.stream(),
            declared_sha256=request.headers.get("x-content-sha256"),
            is_final=_flag(request.headers.get("x-final"), False),
        )
        return _stored(await found.ingest.receive(who, chunk, source="recorder"))


def _with_meeting(who: Uploader, meeting_id: object) -> Uploader:
    if meeting_id in (None, "") or who.session_uid is not None:
        return who
    if who.meeting_id is not None:
        return who  # a MeetingToken's meeting
    return Uploader(who.user_id, meeting_id=str(meeting_id)[:200])


def _fields(form: Mapping[str, Any]) -> dict[str, Any]:
    """Flat form fields override the keys of the optional `metadata` JSON part."""
    raw = form.get("metadata")
    fields = json_object(raw, "metadata") if isinstance(raw, str) else {}
    fields.update({k: v for k, v in form.items() if isinstance(v, str) and k != "metadata"})
    return fields


async def _upload_stream(upload: UploadFile) -> AsyncIterator[bytes]:
    while block := await upload.read(1024 * 1024):
        yield block


async def vexa_upload(request: Request) -> Response:
    found = services(request)
    limit = found.settings.lite_max_chunk_bytes + _MULTIPART_OVERHEAD
    _check_length(request, limit)
    await require_uploader(request, None)  # bad credentials: 401 before a byte of the form is read
    with _held(request, found.ingest.memory) as held:
        limited = Request(request.scope, _limited_receive(held.receive, limit))
        return await _vexa_form(request, limited)


async def _vexa_form(request: Request, limited: Request) -> Response:
    async with limited.form(max_files=1, max_fields=64) as form:
        fields = _fields(form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("the form needs a file part named 'file'")
        who = _with_meeting(
            await require_uploader(
                request, fields.get("user_id") or request.query_params.get("user_id")
            ),
            fields.get("meeting_id") or request.query_params.get("meeting_id"),
        )
        fmt = fields.get("media_format") or fields.get("format") or "wav"
        chunk = ChunkIn(
            session_uid=keys.check_token(fields.get("session_uid"), "session_uid"),
            media_type=keys.check_token(fields.get("media_type") or "audio", "media_type"),
            seq=keys.check_id(str(fields.get("chunk_seq", 0)), "chunk_seq"),
            ext=keys.check_ext(str(fmt)),
            body=_upload_stream(upload),
            is_final=_flag(fields.get("is_final"), True),
        )
        result = await services(request).ingest.receive(who, chunk, source="vexa-bot")
    return _stored(result)


async def session_status(request: Request) -> Response:
    who = await require_uploader(request, request.query_params.get("user_id"))
    status = await services(request).sessions.status(who, request.path_params["session_uid"])
    return JSONResponse(render.session_status(status))


async def finalize_session(request: Request) -> Response:
    who = await require_uploader(request, request.query_params.get("user_id"))
    view = await services(request).sessions.finalize(who, request.path_params["session_uid"])
    return JSONResponse(render.recording(view))


routes = [
    Route("/internal/recordings/upload", vexa_upload, methods=["POST"]),
    Route("/ingest/sessions/{session_uid}/{media_type}/chunks/{seq}", put_chunk, methods=["PUT"]),
    Route("/ingest/sessions/{session_uid}", session_status, methods=["GET"]),
    Route("/ingest/sessions/{session_uid}/finalize", finalize_session, methods=["POST"]),
]
