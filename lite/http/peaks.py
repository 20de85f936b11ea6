"""`GET /recordings/{id}/media/{media_id}/peaks`: waveform peaks (audiowaveform JSON, version 2)
for a player such as peaks.js. Same auth as `/raw` (X-API-Key or a signed URL); cached like the
master (strong ETag, If-None-Match, private max-age)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lite import keys
from lite.http.auth import require_viewer, services


async def peaks(request: Request) -> Response:
    recording_id = keys.check_id(request.path_params["recording_id"])
    media_id = keys.check_id(request.path_params["media_id"], "media_id")
    user_id = await require_viewer(request, recording_id, media_id)
    found = services(request)
    assert found.waveforms is not None
    data = await found.waveforms.get(user_id, recording_id, media_id)
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={found.settings.lite_cache_max_age}",
        "X-Content-Type-Options": "nosniff",
    }
    matches = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if etag in matches or "*" in matches:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/json", headers=headers)


routes = [Route("/recordings/{recording_id}/media/{media_id}/peaks", peaks, methods=["GET"])]
