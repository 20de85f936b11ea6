"""The recordings API for users (X-API-Key): create, list, read, delete, master lookup."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys, render
from lite.errors import BadRequest
from lite.http.auth import require_user, services
from lite.http.bodies import json_body
from lite.http.proxy import public_base
from lite.retention import retention_change


def base_url(request: Request) -> str:
    return public_base(request, services(request).settings.lite_public_url)


async def create_recording(request: Request) -> Response:
    user_id = await require_user(request)
    data = await json_body(request)
    meeting_id = data.get("meeting_id")
    if meeting_id is not None and not isinstance(meeting_id, str | int):
        raise BadRequest("meeting_id must be a string")
    made = await services(request).recordings.create_for_upload(
        user_id,
        str(meeting_id)[:200] if meeting_id is not None else None,
        data.get("session_uid"),
        retention_change(data),
    )
    return JSONResponse(render.new_recording(made, base_url(request)), status_code=201)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


async def list_recordings(request: Request) -> Response:
    user_id = await require_user(request)
    query = request.query_params
    found = await services(request).recordings.list(
        user_id,
        limit=_int_param(request, "limit", 50),
        cursor=query.get("cursor") or None,
        meeting_id=query.get("meeting_id"),
        status=query.get("status"),
        offset=_int_param(request, "offset", 0),
    )
    return JSONResponse(render.page(found))


async def get_recording(request: Request) -> Response:
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    view = await services(request).recordings.get(user_id, recording_id)
    return JSONResponse(render.recording(view))


async def delete_recording(request: Request) -> Response:
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    force = request.query_params.get("force", "").lower() in ("true", "1")
    await services(request).recordings.delete(user_id, recording_id, in_progress_too=force)
    return JSONResponse({"status": "deleted", "id": recording_id, "deleted": True})


async def master(request: Request) -> Response:
    """Vexa's master lookup: `id` is the recording's, `media_file_id` the file's. During the
    meeting it answers with what has arrived (its `raw_url` plays that, as `/raw` does)."""
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    kind = request.query_params.get("type", "audio")
    manifest, state = await services(request).recordings.master(user_id, recording_id, kind)
    return JSONResponse(render.master(manifest, state, base_url(request)))


routes = [
    Route("/recordings", create_recording, methods=["POST"]),
    Route("/recordings", list_recordings, methods=["GET"]),
    Route("/recordings/{recording_id}", get_recording, methods=["GET"]),
    Route("/recordings/{recording_id}", delete_recording, methods=["DELETE"]),
    Route("/recordings/{recording_id}/master", master, methods=["GET"]),
]
