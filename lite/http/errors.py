"""Typed errors → HTTP, in one place. A 500 carries only a request id, which is also logged."""

from __future__ import annotations

import logging
import secrets

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from lite import errors as e

log = logging.getLogger("lite.http")

# Matched by class, most specific first (a subclass must come before its base).
STATUS: tuple[tuple[type[e.LiteError], int], ...] = (
    (e.ChecksumMismatch, 400),
    (e.InvalidKey, 400),
    (e.BadRequest, 400),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.ResourceNotFound, 404),
    (e.NotFound, 404),
    (e.AlreadyExists, 409),
    (e.PreconditionFailed, 409),
    (e.Conflict, 409),
    (e.Sealed, 410),
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.MediaUnplayable, 422),
    (e.InsufficientStorage, 507),
    (e.Unavailable, 503),
)
RETRY_AFTER_SECONDS = "5"
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10


def status_of(exc: e.LiteError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status_code=status)


async def lite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.LiteError)
    status = status_of(exc)
    if status == 500:
        return await server_error(request, exc)
    details = {k: v for k, v in exc.details.items() if isinstance(v, str | int | float | bool)}
    response = error_response(status, exc.code, exc.message, **details)
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if status in (413, 415):
        # A client sends its whole body before it reads the answer: unread bytes would make the
        # kernel reset the connection and the 413 would never arrive. Read (bounded) and close.
        await _drain(request)
        response.headers["Connection"] = "close"
    return response


async def _drain(request: Request) -> None:
    received = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while received < DRAIN_BYTES:
            with anyio.move_on_after(1) as idle:
                message = await request.receive()
            if idle.cancelled_caught or message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    response = error_response(exc.status_code, code, str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    # The id lite.http.access gave the request (echoed as X-Request-ID), so a client can quote it.
    request_id = str(getattr(request.state, "request_id", "") or secrets.token_hex(8))
    log.error("request %s %s %s failed", request_id, request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error", request_id=request_id)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client disconnected mid-request (a bot killed mid-upload): nothing failed here, so no
    500 and no 5xx metric. Logged as 499, nginx's code for it; the answer reaches nobody."""
    log.info("client went away during %s %s (499)", request.method, request.url.path)
    return Response(status_code=499)


HANDLERS = {
    e.LiteError: lite_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: server_error,
}
