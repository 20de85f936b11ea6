"""Typed errors → HTTP, in one place.

Every `LiteError` carries its status and code; clients read its public message only. A 500 carries
only a request id, which is logged with the traceback; a 503 or 507 is logged once, here, with the
message and cause meant for the operator.
"""

from __future__ import annotations

import logging
import secrets

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from lite import errors as e

log = logging.getLogger("lite.http")

RETRY_AFTER_SECONDS = "5"
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10
_LOGGED = (503, 507)
# Set in the request's scope state by lite.http.access once the last body message has arrived.
BODY_RECEIVED = "body_received"


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    """The one error body: `error.code` for programs, `detail` for Vexa's clients."""
    body: dict[str, object] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body, "detail": message}, status_code=status)


async def lite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.LiteError)
    status = exc.status
    if status in _LOGGED:
        cause = exc.__cause__ or exc.__context__
        log.warning(
            "%s %s answered %d: %s%s",
            request.method,
            request.url.path,
            status,
            exc.message,
            f" (cause: {cause!r})" if cause is not None else "",
        )
    elif status >= 500:
        return await server_error(request, exc)
    response = error_response(status, exc.code, exc.public_message, **exc.public_details)
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if status in (413, 415) or isinstance(exc, e.Busy):
        # A client sends its whole body before it reads the answer: unread bytes would make the
        # kernel reset the connection and the answer would never arrive. Read (bounded, nothing
        # kept) and close.
        await _drain(request)
        response.headers["Connection"] = "close"
    return response


async def _drain(request: Request) -> None:
    if request.scope.get("state", {}).get(BODY_RECEIVED):
        return  # nothing unread: a further receive would only wait for the client to hang up
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
