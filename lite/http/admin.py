"""Admin API: create, list and revoke API keys (X-Admin-API-Key)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys
from lite.errors import BadRequest
from lite.http.auth import require_admin, services

MAX_BODY = 4096


async def _optional_name(request: Request) -> str:
    body = await request.body()
    if not body.strip():
        return ""
    if len(body) > MAX_BODY:
        raise BadRequest("request body too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest('body must be JSON like {"name": "..."}') from None
    name = data.get("name", "") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise BadRequest("name must be a string")
    return name


async def create_key(request: Request) -> Response:
    require_admin(request)
    user_id = keys.check_id(request.path_params["user_id"], "user_id")
    name = await _optional_name(request)
    plain, record = await services(request).api_keys.create(user_id, name)
    return JSONResponse({**record.public(), "key": plain}, status_code=201)


async def list_keys(request: Request) -> Response:
    require_admin(request)
    user_id = keys.check_id(request.path_params["user_id"], "user_id")
    found = await services(request).api_keys.list_for(user_id)
    return JSONResponse({"api_keys": [record.public() for record in found]})


async def revoke_key(request: Request) -> Response:
    require_admin(request)
    record = await services(request).api_keys.revoke(request.path_params["key_id"])
    return JSONResponse({**record.public(), "revoked": True})


routes = [
    Route("/admin/users/{user_id}/api-keys", create_key, methods=["POST"]),
    Route("/admin/users/{user_id}/api-keys", list_keys, methods=["GET"]),
    Route("/admin/api-keys/{key_id}", revoke_key, methods=["DELETE"]),
]
