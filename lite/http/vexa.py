"""What Vexa's launcher and the admin need beyond the seed's API (docs/vexa.md): registering a
bot's session before it starts, and the recordings whose owner nobody registered."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys, render
from lite.errors import BadRequest, Unauthorized
from lite.http.auth import bearer_token, require_admin, services
from lite.http.bodies import json_body
from lite.owners import Owners, check_owner


def _require_internal(request: Request) -> None:
    secret = services(request).settings.internal_api_secret
    token = bearer_token(request)
    if not (secret and hmac.compare_digest(secret.encode(), token.encode())):
        raise Unauthorized("this call needs INTERNAL_API_SECRET")


def _owners(request: Request) -> Owners:
    found = services(request)
    return Owners(found.storage, found.catalog)


async def register_session(request: Request) -> Response:
    """The launcher names a bot's session owner before the bot starts: `{session_uid, user_id,
    meeting_id}`. The bot then sends the internal secret alone and its chunks go to that user."""
    _require_internal(request)
    data = await json_body(request, limit=4096)
    uid = keys.check_token(data.get("session_uid"), "session_uid")
    user_id = check_owner(data.get("user_id"))
    meeting = data.get("meeting_id")
    if meeting is not None and not isinstance(meeting, str | int):
        raise BadRequest("meeting_id must be a string or an integer")
    meeting_id = None if meeting is None else str(meeting)[:200]
    index, created = await _owners(request).register(uid, user_id, meeting_id)
    body = {
        "session_uid": index.session_uid,
        "user_id": index.user_id,
        "recording_id": index.recording_id,
        "meeting_id": index.meeting_id,
    }
    return JSONResponse(body, status_code=201 if created else 200)


async def unassigned_recordings(request: Request) -> Response:
    require_admin(request)
    if request.query_params.get("unassigned", "").lower() not in ("true", "1"):
        raise BadRequest("only ?unassigned=true is listed here; users list their own")
    found = services(request)
    manifests = await _owners(request).unassigned()
    listed = [render.recording(await found.recordings.view(m)) for m in manifests]
    return JSONResponse({"recordings": listed, "next_cursor": None})


async def assign_owner(request: Request) -> Response:
    require_admin(request)
    recording_id = keys.check_id(request.path_params["recording_id"], "recording_id")
    user_id = check_owner((await json_body(request, limit=4096)).get("user_id"))
    manifest = await _owners(request).assign(recording_id, user_id)
    return JSONResponse(render.recording(await services(request).recordings.view(manifest)))


routes = [
    Route("/internal/sessions", register_session, methods=["POST"]),
    Route("/admin/recordings", unassigned_recordings, methods=["GET"]),
    Route("/admin/recordings/{recording_id}/owner", assign_owner, methods=["POST"]),
]
