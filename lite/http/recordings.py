"""The recordings API for users (X-API-Key): create, list, read, delete, master lookup."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys
from lite.errors import BadRequest, Conflict, ResourceNotFound
from lite.http.auth import require_user, services
from lite.http.bodies import json_body
from lite.http.proxy import public_base
from lite.manifest import FAILED, IN_PROGRESS
from lite.retention import retention_change
from lite.tokens import UploadGrant, issue_upload_token


def base_url(request: Request) -> str:
    return public_base(request, services(request).settings.lite_public_url)


async def create_recording(request: Request) -> Response:
    user_id = await require_user(request)
    found = services(request)
    data = await json_body(request)
    meeting_id = data.get("meeting_id")
    if meeting_id is not None and not isinstance(meeting_id, str | int):
        raise BadRequest("meeting_id must be a string")
    session_uid = data.get("session_uid")
    index = await found.recordings.create(
        user_id,
        str(meeting_id)[:200] if meeting_id is not None else None,
        session_uid,
        retention_change(data),
    )
    ttl = found.settings.lite_upload_token_ttl_seconds
    grant = UploadGrant(user_id, index.recording_id, index.session_uid)
    token = issue_upload_token(await found.secret.get(), grant, ttl)
    body = await found.recordings.get(user_id, index.recording_id)
    body.update(
        upload_token=token,
        upload_token_expires_in=ttl,
        upload_url=f"{base_url(request)}/ingest/sessions/{index.session_uid}",
    )
    return JSONResponse(body, status_code=201)


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
    body = await services(request).recordings.list(
        user_id,
        limit=_int_param(request, "limit", 50),
        cursor=query.get("cursor") or None,
        meeting_id=query.get("meeting_id"),
        status=query.get("status"),
        offset=_int_param(request, "offset", 0),
    )
    return JSONResponse(body)


async def get_recording(request: Request) -> Response:
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    return JSONResponse(await services(request).recordings.get(user_id, recording_id))


async def delete_recording(request: Request) -> Response:
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    found = services(request)
    force = request.query_params.get("force", "").lower() in ("true", "1")
    manifest, _ = await found.catalog.load(user_id, recording_id)
    if manifest.status == IN_PROGRESS and not force:
        # Like Vexa's meeting-api: a bot may still be sending; say so rather than race it.
        raise Conflict("the recording is still receiving chunks; DELETE with ?force=true")
    await found.recordings.delete(user_id, recording_id)
    return JSONResponse({"status": "deleted", "id": recording_id, "deleted": True})


async def master(request: Request) -> Response:
    """Vexa's master lookup: `id` is the recording's, `media_file_id` the file's. During the
    meeting it answers with what has arrived (its `raw_url` plays that, as `/raw` does)."""
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    kind = keys.check_token(request.query_params.get("type", "audio"), "type")
    found = services(request)
    manifest, _ = await found.catalog.load(user_id, recording_id)
    state = {**manifest.media, **(await found.recordings.live_media(manifest))}.get(kind)
    if state is None or state.status == FAILED:
        raise ResourceNotFound(f"no {kind} file for this recording")
    raw = f"{base_url(request)}/recordings/{recording_id}/media/{state.id}/raw"
    body = {
        **state.public(),
        "id": recording_id,
        "recording_id": recording_id,
        "media_file_id": state.id,
        "storage_path": manifest.storage_path(state),
        "raw_url": raw,
    }
    return JSONResponse(body)


routes = [
    Route("/recordings", create_recording, methods=["POST"]),
    Route("/recordings", list_recordings, methods=["GET"]),
    Route("/recordings/{recording_id}", get_recording, methods=["GET"]),
    Route("/recordings/{recording_id}", delete_recording, methods=["DELETE"]),
    Route("/recordings/{recording_id}/master", master, methods=["GET"]),
]
