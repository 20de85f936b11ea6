"""Who is calling: API-key users, the admin, and recorders (DESIGN §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from lite.apikeys import admin_allowed
from lite.errors import Unauthorized

if TYPE_CHECKING:
    from lite.app import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def require_user(request: Request) -> int:
    """The user id behind X-API-Key, or Unauthorized."""
    record = await services(request).api_keys.resolve(request.headers.get("x-api-key", ""))
    return record.user_id


def require_admin(request: Request) -> None:
    configured = services(request).settings.admin_api_token
    if not admin_allowed(configured, request.headers.get("x-admin-api-key")):
        raise Unauthorized("missing or invalid X-Admin-API-Key")


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()
