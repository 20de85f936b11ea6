"""Lifecycle API: a recording's retention (PATCH) and per-user webhook endpoints (admin)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys, render
from lite.errors import BadRequest
from lite.http.auth import require_admin, require_user, services
from lite.http.bodies import json_body
from lite.retention import retention_change


async def patch_recording(request: Request) -> Response:
    user_id = await require_user(request)
    recording_id = keys.check_id(request.path_params["recording_id"])
    change = retention_change(await json_body(request))
    if change is None:
        raise BadRequest('send {"expires_at": "<ISO 8601>"} or {"retain": "forever"}')
    view = await services(request).recordings.set_retention(user_id, recording_id, change)
    return JSONResponse(render.recording(view))


async def create_webhook(request: Request) -> Response:
    require_admin(request)
    user_id = keys.check_id(request.path_params["user_id"], "user_id")
    data = await json_body(request, limit=4096)
    endpoint = await services(request).endpoints.create(
        user_id, data.get("url"), data.get("description", "")
    )
    return JSONResponse({**endpoint.public(), "secret": endpoint.secret}, status_code=201)


async def list_webhooks(request: Request) -> Response:
    require_admin(request)
    user_id = keys.check_id(request.path_params["user_id"], "user_id")
    found = await services(request).endpoints.list_for(user_id)
    return JSONResponse({"webhooks": [endpoint.public() for endpoint in found]})


async def delete_webhook(request: Request) -> Response:
    require_admin(request)
    user_id = keys.check_id(request.path_params["user_id"], "user_id")
    endpoint = await services(request).endpoints.delete(user_id, request.path_params["webhook_id"])
    return JSONResponse({**endpoint.public(), "deleted": True})


routes = [
    Route("/recordings/{recording_id}", patch_recording, methods=["PATCH"]),
    Route("/admin/users/{user_id}/webhooks", create_webhook, methods=["POST"]),
    Route("/admin/users/{user_id}/webhooks", list_webhooks, methods=["GET"]),
    Route("/admin/users/{user_id}/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
]
