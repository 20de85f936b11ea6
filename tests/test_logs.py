"""Logs of a real server: JSON lines, one access line per request, request ids that round-trip,
and no key, upload token or URL signature anywhere in them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingestkit import ADMIN, SECRET, app_env, new_uid, wav_chunks
from tests.servers import AppServer, app_server
from tests.stores import local_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppServer]:
    env = app_env(local_env(tmp_path / "rec"))
    with app_server(env, tmp_path) as started:
        yield started


class Client:
    """Sends every request with a fresh X-Request-ID and remembers it."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=20)
        self.sent: dict[str, tuple[str, int]] = {}

    def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        request_id = f"test-{uuid.uuid4().hex[:12]}"
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        answer = self.http.request(method, url, headers=headers, **kwargs)
        assert answer.headers["x-request-id"] == request_id
        self.sent[request_id] = (method, answer.status_code)
        return answer


def work(client: Client) -> list[str]:
    """Real traffic with every kind of secret in it; returns those secrets."""
    key = client("POST", "/admin/users/7/api-keys", headers={"X-Admin-API-Key": ADMIN}).json()[
        "key"
    ]
    uid = new_uid()
    created = client(
        "POST", "/recordings", headers={"X-API-Key": key}, json={"session_uid": uid}
    ).json()
    token = created["upload_token"]
    upload = {"Authorization": f"Bearer {token}", "Content-Type": "audio/wav", "X-Final": "true"}
    [chunk] = wav_chunks(1)
    put = client("PUT", f"/ingest/sessions/{uid}/audio/chunks/0", headers=upload, content=chunk)
    assert put.status_code == 201, put.text
    recording = client("GET", f"/recordings/{created['id']}", headers={"X-API-Key": key}).json()
    media = recording["media_files"][0]["id"]
    link = client(
        "GET", f"/recordings/{created['id']}/media/{media}/download", headers={"X-API-Key": key}
    ).json()["url"]
    assert client("GET", link).status_code == 200
    signature = re.search(r"sig=([^&]+)", link)
    assert signature
    assert client("GET", "/no/such/route?token=hidden-query-secret").status_code == 404
    return [key, token, signature.group(1), ADMIN, SECRET, "hidden-query-secret"]


def test_logs_are_json_with_one_access_line_per_request_and_no_secrets(server: AppServer) -> None:
    client = Client(server.url)
    secrets = work(client)
    generated = client.http.get("/healthz", headers={"X-Request-ID": "not ok: spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    client.http.close()
    server.stop()
    text = server.log()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    access = [line for line in lines if line["logger"] == "lite.access"]
    for request_id, (method, status) in client.sent.items():
        mine = [line for line in access if line.get("request_id") == request_id]
        assert len(mine) == 1, (request_id, mine)
        assert mine[0]["method"] == method
        assert mine[0]["status"] == status
        assert mine[0]["duration_ms"] >= 0
    routes = {line["route"] for line in access}
    assert "/recordings/{recording_id:int}" in routes or "/recordings/{recording_id}" in routes
    assert "unmatched" in routes
    callers = [line for line in access if line["route"].startswith(("/recordings", "/ingest"))]
    assert callers and all(line["user_id"] == 7 for line in callers)  # key, token or signature
    assert any(line["bytes"] > 0 for line in access)
    assert [line for line in access if line["request_id"] == generated.headers["x-request-id"]]
    for secret in secrets:
        assert secret not in text


async def test_an_unexpected_error_answers_500_with_the_request_id() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from lite.http.access import AccessLog
    from lite.http.errors import HANDLERS

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = Starlette(
        routes=[Route("/broken", broken)],
        middleware=[Middleware(AccessLog)],
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/broken", headers={"X-Request-ID": "req-500"})
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "req-500"
    assert answer.json()["error"]["request_id"] == "req-500"
