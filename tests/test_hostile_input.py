"""Hostile input is a clear 4xx, never a 500: deeply nested JSON, and a client that disconnects
in the middle of an upload (logged as 499, not an error)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from lite.errors import BadRequest, PayloadTooLarge
from lite.http.bodies import MAX_JSON_DEPTH, json_object
from tests.ingestkit import SECRET, app_env, new_uid, new_user, wav_chunks
from tests.inproc import inproc_app

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("text", ["[" * 15_000, '{"a":' * 5_000 + "1" + "}" * 5_000])
def test_deeply_nested_json_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        json_object(text)


def test_nesting_within_the_bound_and_brackets_in_strings_parse() -> None:
    nested = '{"a":' * (MAX_JSON_DEPTH - 1) + "1" + "}" * (MAX_JSON_DEPTH - 1)
    assert json_object(nested)["a"]
    assert json_object('{"s": "[[[[[[[[[[\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')["s"]


def test_an_oversized_json_text_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        json_object('{"a": "' + "x" * 70_000 + '"}')


async def call(
    env: dict[str, str], method: str, path: str, query: str, headers: dict[str, str], body: Any
) -> tuple[int, int]:
    """One raw ASGI request to the app over `env`: (status, body messages the app read).
    `body` is a list of receive messages."""
    messages = list(body)
    read = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "t", **headers}.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    async with inproc_app(env) as app:
        await app(scope, receive, send)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    return start["status"], read


def local_env(tmp_path: Path) -> dict[str, str]:
    return app_env({"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path / "rec")})


async def test_a_client_gone_mid_upload_is_a_499_not_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = wav_chunks(1, seconds=0.5)[0]
    headers = {
        "authorization": f"Bearer {SECRET}",
        "content-type": "audio/wav",
        "content-length": str(len(data)),
    }
    body = [{"type": "http.request", "body": data[:1000], "more_body": True}]
    caplog.set_level(logging.INFO)

    status, _ = await call(
        local_env(tmp_path),
        "PUT",
        f"/ingest/sessions/{new_uid()}/audio/chunks/1",
        f"user_id={new_user()}",
        headers,
        body,
    )

    assert status == 499
    assert "client went away" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [p for p in (tmp_path / "rec").rglob("*") if p.name.startswith(".tmp-")]


async def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    tmp_path: Path,
) -> None:
    size = 150 * 1024 * 1024
    headers = {
        "authorization": "Bearer not-a-token",
        "content-type": "multipart/form-data; boundary=x",
        "content-length": str(size),
    }
    block = {"type": "http.request", "body": b"\0" * 65536, "more_body": True}

    status, read = await call(
        local_env(tmp_path), "POST", "/internal/recordings/upload", "", headers, [block] * 2400
    )

    assert status == 401
    assert read == 0
