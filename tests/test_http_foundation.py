"""The app skeleton in process (tests/inproc.py): health, metrics, admin keys, error bodies."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lite import errors
from lite.storage.base import iter_bytes
from lite.storage.local import LocalStorage
from tests.inproc import inproc_sync_client
from tests.stores import new_store

ADMIN = {"X-Admin-API-Key": "adm"}
QUIET = {"LITE_RECONCILE_INTERVAL_SECONDS": "0"}


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    store = new_store("local", tmp_path_factory.mktemp("app-local"), ADMIN_API_TOKEN="adm", **QUIET)
    with inproc_sync_client(store.env) as client:
        yield client


@pytest.fixture(scope="module")
def seaweed_app(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    with (
        new_store("seaweedfs", None, request, ADMIN_API_TOKEN="adm", **QUIET) as store,
        inproc_sync_client(store.env) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def no_bucket_app(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """Its bucket deleted after it started (a missing bucket at start stops `serve` with one
    line: tests/test_serving.py); ADMIN_API_TOKEN unset."""
    store = new_store("seaweedfs", None, request, **QUIET)
    with inproc_sync_client(store.env) as client:
        store.close()
        yield client


@pytest.fixture(params=["local", "seaweedfs"], scope="module")
def client(request: pytest.FixtureRequest) -> httpx.Client:
    app: httpx.Client = request.getfixturevalue(
        f"{request.param.replace('seaweedfs', 'seaweed')}_app"
    )
    return app


def error_of(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    error = body["error"]
    assert body["detail"] == error["message"]
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z_0-9]+", error["code"])
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def create_key(client: httpx.Client, user_id: int, name: str = "") -> dict[str, Any]:
    created = client.post(f"/admin/users/{user_id}/api-keys", headers=ADMIN, json={"name": name})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


# --- health ---------------------------------------------------------------------------------------


def test_healthz_answers_200(client: httpx.Client) -> None:
    got = client.get("/healthz")
    assert got.status_code == 200
    assert got.json() == {"status": "ok"}


def test_readyz_answers_200_when_the_storage_is_writable(client: httpx.Client) -> None:
    got = client.get("/readyz")
    assert got.status_code == 200
    assert got.json()["status"] == "ready"


def test_readyz_answers_503_with_retry_after_when_the_bucket_is_missing(
    no_bucket_app: httpx.Client,
) -> None:
    got = no_bucket_app.get("/readyz")
    assert got.status_code == 503
    assert got.headers["retry-after"].isdigit()
    error = error_of(got)
    assert "bucket" in error["message"].lower()


def test_metrics_returns_prometheus_text(client: httpx.Client) -> None:
    client.get("/healthz")
    got = client.get("/metrics")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert "# TYPE lite_http_requests_total counter" in got.text
    assert re.search(
        r'^lite_http_requests_total\{[^}]*route="/healthz"[^}]*status="200"[^}]*\} [1-9]',
        got.text,
        re.MULTILINE,
    )


# --- API keys -------------------------------------------------------------------------------------


def test_admin_creates_a_key_and_shows_it_once(client: httpx.Client) -> None:
    body = create_key(client, 7, "laptop")
    assert set(body) == {"id", "key", "user_id", "name", "created_at"}
    assert body["user_id"] == 7
    assert body["name"] == "laptop"
    assert isinstance(body["key"], str) and len(body["key"]) >= 32
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(body["created_at"]))


def test_admin_creates_a_key_without_a_body(client: httpx.Client) -> None:
    created = client.post("/admin/users/11/api-keys", headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["user_id"] == 11


def test_admin_lists_a_users_keys_without_secrets(client: httpx.Client) -> None:
    first = create_key(client, 8, "one")
    second = create_key(client, 8, "two")
    create_key(client, 80, "someone else")
    listed = client.get("/admin/users/8/api-keys", headers=ADMIN)
    assert listed.status_code == 200
    keys = listed.json()["api_keys"]
    assert sorted(k["id"] for k in keys) == sorted([first["id"], second["id"]])
    for key in keys:
        assert set(key) == {"id", "user_id", "name", "created_at"}
    for plain in (first["key"], second["key"]):
        assert str(plain) not in listed.text
        assert hashlib.sha256(str(plain).encode()).hexdigest() not in listed.text


def test_a_created_key_authenticates_and_a_revoked_one_does_not(client: httpx.Client) -> None:
    body = create_key(client, 9)
    user = {"X-API-Key": str(body["key"])}
    allowed = client.get("/recordings", headers=user)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["recordings"] == []
    assert client.get("/recordings").status_code == 401
    assert (
        client.get("/recordings", headers={"X-API-Key": str(body["key"]) + "x"}).status_code == 401
    )
    revoked = client.delete(f"/admin/api-keys/{body['id']}", headers=ADMIN)
    assert revoked.status_code == 200
    refused = client.get("/recordings", headers=user)
    assert refused.status_code == 401
    error_of(refused)
    again = client.delete(f"/admin/api-keys/{body['id']}", headers=ADMIN)
    assert again.status_code == 404


ADMIN_CALLS = [
    ("POST", "/admin/users/1/api-keys"),
    ("GET", "/admin/users/1/api-keys"),
    ("DELETE", "/admin/api-keys/0123456789abcdef0123"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Admin-API-Key": ""}, {"X-Admin-API-Key": "wrong"}, {"X-Admin-API-Key": "ADM"}],
    ids=["missing", "empty", "wrong", "other-case"],
)
def test_admin_calls_without_the_admin_token_are_401(
    local_app: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    got = local_app.request(method, path, headers=headers)
    assert got.status_code == 401
    error_of(got)


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_the_admin_api_is_off_without_admin_api_token(
    no_bucket_app: httpx.Client, method: str, path: str
) -> None:
    for token in ("", "adm", "None"):
        got = no_bucket_app.request(method, path, headers={"X-Admin-API-Key": token})
        assert got.status_code == 401
        error_of(got)


# --- errors ---------------------------------------------------------------------------------------


def test_an_unknown_route_is_a_json_404(local_app: httpx.Client) -> None:
    got = local_app.get("/no/such/route")
    assert got.status_code == 404
    assert error_of(got)["code"] == "not_found"


def test_a_wrong_method_is_a_json_405(local_app: httpx.Client) -> None:
    got = local_app.delete("/healthz")
    assert got.status_code == 405
    error_of(got)


CLASS_NAMES = sorted(
    {name for name in dir(errors) if isinstance(getattr(errors, name), type)}
    | {"ValueError", "KeyError", "TypeError", "AttributeError", "OSError", "UnicodeDecodeError"}
    | {"ClientError", "BotoCoreError", "JSONDecodeError", "HTTPException", "Exception"}
)
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|/work/|/tmp/|site-packages|line \d+|"
    + "|".join(rf"\b{re.escape(name)}\b" for name in CLASS_NAMES)
)
BAD_REQUESTS = [
    ("GET", "/no/such/route", {}, None, 404),
    ("DELETE", "/healthz", {}, None, 405),
    ("GET", "/recordings", {}, None, 401),
    ("GET", "/recordings", {"X-API-Key": "vxl_nope"}, None, 401),
    ("POST", "/admin/users/1/api-keys", {"X-Admin-API-Key": "no"}, None, 401),
    ("POST", "/admin/users/1/api-keys", ADMIN, b"{not json", 400),
    ("POST", "/admin/users/1/api-keys", ADMIN, b"\xff\xfe\x00", 400),
    ("POST", "/admin/users/1/api-keys", ADMIN, b'["a list"]', 400),
    ("POST", "/admin/users/1/api-keys", ADMIN, b'{"name": 5}', 400),
    ("POST", "/admin/users/1/api-keys", ADMIN, b'{"name": "' + b"x" * 5000 + b'"}', 413),
    ("POST", "/admin/users/abc/api-keys", ADMIN, None, 400),
    ("POST", "/admin/users/-1/api-keys", ADMIN, None, 400),
    ("POST", "/admin/users/9007199254740992/api-keys", ADMIN, None, 400),
    ("POST", "/admin/users/%C2%B2/api-keys", ADMIN, None, 400),  # superscript two
    ("POST", "/admin/users/%D9%A3/api-keys", ADMIN, None, 400),  # arabic-indic three
    ("GET", "/admin/users/1.5/api-keys", ADMIN, None, 400),
    ("DELETE", "/admin/api-keys/..%2F..%2Fetc", ADMIN, None, 404),
    ("DELETE", "/admin/api-keys/0123456789abcdef0123", ADMIN, None, 404),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), BAD_REQUESTS)
def test_error_bodies_carry_a_code_and_no_internals(
    local_app: httpx.Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    got = local_app.request(method, path, headers=headers, content=body)
    assert got.status_code == status, got.text
    error_of(got)
    assert not INTERNALS.search(got.text), got.text


def test_a_503_body_carries_no_internals(no_bucket_app: httpx.Client) -> None:
    got = no_bucket_app.get("/readyz")
    assert got.status_code == 503
    assert not INTERNALS.search(got.text), got.text
    assert "testing" not in got.text  # the access key


# --- file descriptors -----------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def local_store(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    store = LocalStorage(str(tmp_path))
    yield store
    await store.aclose()


@pytest.mark.anyio
async def test_local_storage_leaks_no_file_descriptors(local_store: LocalStorage) -> None:
    data = os.urandom(3 * 1024 * 1024)
    await local_store.put("fd/obj", iter_bytes(data))
    reader = await local_store.open_range("fd/obj")  # warm up the worker threads
    await reader.aclose()
    before = open_fds()
    closed = []  # kept alive: aclose must release the descriptor, not the garbage collector
    for n in range(200):
        reader = await local_store.open_range("fd/obj", n, None if n % 2 else n + 10)
        async for _ in reader:
            break  # an aborted read, like a browser that seeks away
        await reader.aclose()
        closed.append(reader)
    assert open_fds() == before
    for n in range(200):
        await local_store.put(f"fd/{n % 7}.bin", iter_bytes(b"x" * n))
    info = await local_store.stat("fd/obj")
    await local_store.put_if_match("fd/obj", iter_bytes(b"cas"), info.etag)
    assert open_fds() == before
