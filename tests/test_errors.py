"""Errors own their status and public code; clients never read a message meant for logs.

In-process: a tiny Starlette app with the real error handlers, driven through httpx's ASGI
transport (no sockets needed to check a JSON body).
"""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lite import errors
from lite.http.errors import HANDLERS

pytestmark = pytest.mark.anyio

ERROR_CLASSES = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.LiteError)
]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_has_a_status_and_a_public_code(cls: type[errors.LiteError]) -> None:
    assert 400 <= cls.status <= 599
    assert re.fullmatch(r"[a-z_]+", cls.code)


def test_storage_errors_keep_their_message_for_the_log() -> None:
    exc = errors.NotFound("no object recordings/7/123/abc.wav", key="recordings/7/123/abc.wav")
    assert exc.message == "no object recordings/7/123/abc.wav"
    assert exc.public_message == "not found"
    assert exc.public_details == {}


def test_request_errors_are_written_for_the_client() -> None:
    exc = errors.Conflict("a different chunk is stored under this seq", stored_sha256="ab")
    assert exc.public_message == "a different chunk is stored under this seq"
    assert exc.public_details == {"stored_sha256": "ab"}


def app_raising(exc: Exception) -> Starlette:
    async def fail(request: Request) -> Response:
        raise exc

    return Starlette(routes=[Route("/", fail)], exception_handlers=HANDLERS)  # type: ignore[arg-type]


async def call(exc: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_raising(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://lite") as client:
        return await client.get("/")


CASES = [
    (errors.NotFound("no object recordings/7/1/a.wav"), 404, "not_found", "not found"),
    (errors.AlreadyExists("recordings/7/1/a.wav exists"), 409, "already_exists", "already exists"),
    (errors.InsufficientStorage("/data/x: no space"), 507, "insufficient_storage", None),
    (errors.Unavailable("bucket 'b' at http://10.0.0.1"), 503, "storage_unavailable", None),
    (errors.StaleMedia("recordings/7/1/a.wav rebuilt"), 503, "media_changed", None),
    (errors.BadRequest("limit must be an integer"), 400, "bad_request", "limit must be an integer"),
    (errors.InvalidKey("bad id"), 400, "invalid_identifier", "bad id"),
    (errors.Unauthorized("missing bearer token"), 401, "unauthorized", "missing bearer token"),
    (errors.Forbidden("expired"), 403, "forbidden", "expired"),
    (errors.ResourceNotFound("recording not found"), 404, "not_found", "recording not found"),
    (errors.PayloadTooLarge("too big"), 413, "payload_too_large", "too big"),
    (errors.MediaUnplayable("nothing to play yet"), 422, "media_unplayable", None),
]


@pytest.mark.parametrize(("exc", "status", "code", "message"), CASES, ids=lambda c: str(c))
async def test_each_error_renders_its_status_code_and_public_message(
    exc: errors.LiteError, status: int, code: str, message: str | None
) -> None:
    got = await call(exc)
    assert got.status_code == status
    body = got.json()
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"] == (message or exc.public_message)
    assert "recordings/" not in got.text and "/data" not in got.text and "10.0.0" not in got.text


async def test_503_and_507_are_logged_once_with_their_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as cause:
            raise errors.InsufficientStorage("/data/recordings/x.part: disk full") from cause
    except errors.InsufficientStorage as raised:
        exc = raised
    with caplog.at_level(logging.WARNING, logger="lite.http"):
        got = await call(exc)
    assert got.status_code == 507
    lines = [r.getMessage() for r in caplog.records if r.name == "lite.http"]
    assert len(lines) == 1, lines
    assert "/data/recordings/x.part: disk full" in lines[0]
    assert "No space left on device" in lines[0]


async def test_an_unexpected_error_is_a_bare_500_with_a_request_id() -> None:
    got = await call(KeyError("recordings/7/1/a.wav"))
    assert got.status_code == 500
    body = got.json()
    assert body["error"]["code"] == "internal_error" and body["detail"] == "internal error"
    assert re.fullmatch(r"[0-9a-f]{16}", body["error"]["request_id"])
    assert "recordings/" not in got.text
