"""Who is calling: API-key users, the admin, recorders, and holders of signed /raw URLs."""

from __future__ import annotations

from starlette.requests import Request

from lite.apikeys import admin_allowed
from lite.errors import Unauthorized
from lite.ingest import Uploader
from lite.logs import bind_request
from lite.services import Services
from lite.tokens import verify_raw
from lite.uploaders import uploader_for


def services(request: Request) -> Services:
    """The process's services, from the lifespan state (see `lite.app.create_app`)."""
    # The scope's dict rather than `request.state`, whose attribute lookup costs more: this runs
    # several times on every request.
    found: Services = request.scope["state"]["services"]
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


async def require_uploader(request: Request, user_id: object) -> Uploader:
    """Who sends the chunk, from the bearer token (lite.uploaders)."""
    found = services(request)
    token = bearer_token(request)
    who = uploader_for(token, found.settings.internal_api_secret, await found.secret.get(), user_id)
    if who.user_id is not None:
        bind_request(user_id=who.user_id)  # named in the access line
    return who


async def require_viewer(request: Request, recording_id: int, media_id: int) -> int:
    """X-API-Key, or a signed URL bound to this recording and media file: the user id."""
    found = services(request)
    if "x-api-key" in request.headers:
        return (await found.api_keys.resolve(request.headers["x-api-key"])).user_id
    if "sig" in request.query_params:
        query = dict(request.query_params)
        user_id = verify_raw(await found.secret.get(), query, recording_id, media_id)
        bind_request(user_id=user_id)  # named in the access line
        return user_id
    raise Unauthorized("send X-API-Key or use a signed URL from /download")
