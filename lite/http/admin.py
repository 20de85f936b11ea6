"""Admin API: create, list and revoke API keys (X-Admin-API-Key)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite import keys
from lite.errors import BadRequest
from lite.http.auth import require_admin, services
from lite.http.bodies import json_body


async def _optional_name(request: Request) -> str:
    name = (await json_body(request, limit=4096)).get("name", "")
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
