"""Behind a reverse proxy: X-Forwarded-* only from LITE_TRUSTED_PROXIES, LITE_PUBLIC_URL first,
and the shipped nginx example (deploy/nginx/vexa-lite.conf) in front of a real server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from lite.errors import ConfigError
from lite.http.proxy import SCOPE_KEY, TrustedProxies
from lite.settings import load_settings
from tests.ingestkit import api_key, app_env, new_uid, new_user, put_chunk, wav_chunks, wav_master
from tests.nginxkit import NginxProxy
from tests.servers import AppServer, app_server
from tests.stores import local_env

pytestmark = pytest.mark.anyio


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what the app behind the middleware sees."""
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    seen = {
        "scheme": scope["scheme"],
        "host": headers.get("host"),
        "client": scope["client"][0],
        "base": scope.get(SCOPE_KEY),
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


async def _seen(trusted: str, peer: str, headers: dict[str, str]) -> dict[str, Any]:
    app = TrustedProxies(_echo, load_settings({"LITE_TRUSTED_PROXIES": trusted}).trusted_proxies)
    transport = httpx.ASGITransport(app=app, client=(peer, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://app.internal:8056") as c:
        return dict((await c.get("/", headers=headers)).json())


FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "rec.example.com",
    "X-Forwarded-For": "203.0.113.7",
}


async def test_forwarded_headers_from_a_trusted_proxy_are_used() -> None:
    seen = await _seen("10.0.0.0/8", "10.1.2.3", FORWARDED)

    assert seen == {
        "scheme": "https",
        "host": "rec.example.com",
        "client": "203.0.113.7",
        "base": "https://rec.example.com",
    }


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8", "127.0.0.1"])
async def test_forwarded_headers_from_anyone_else_are_ignored(trusted: str) -> None:
    seen = await _seen(trusted, "192.0.2.50", FORWARDED)

    assert seen == {
        "scheme": "http",
        "host": "app.internal:8056",
        "client": "192.0.2.50",
        "base": None,
    }


async def test_client_is_the_first_untrusted_hop_from_the_right() -> None:
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.0.0.5", "X-Forwarded-Proto": "http"}

    seen = await _seen("10.0.0.0/8", "10.0.0.6", chain)

    assert seen["client"] == "203.0.113.9"  # 198.51.100.1 was written by the client itself
    assert seen["base"] == "http://app.internal:8056"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Host": "evil.example/x?"},
        {"X-Forwarded-Host": "user@evil.example"},
        {"X-Forwarded-Proto": "javascript"},
    ],
)
async def test_malformed_forwarded_values_are_ignored(headers: dict[str, str]) -> None:
    seen = await _seen("10.0.0.0/8", "10.0.0.6", headers)

    assert seen["host"] == "app.internal:8056"
    assert seen["scheme"] == "http"
    assert seen["base"] is None


async def test_nearest_proxy_value_wins_when_a_header_repeats() -> None:
    seen = await _seen(
        "10.0.0.0/8", "10.0.0.6", {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "a, b"}
    )

    assert (seen["scheme"], seen["host"]) == ("https", "b")


@pytest.mark.parametrize("value", ["10.0.0.0/33", "nginx", "10.0.0.1,,x"])
def test_bad_trusted_proxies_fail_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"LITE_TRUSTED_PROXIES": value})

    assert "LITE_TRUSTED_PROXIES" in str(error.value) and "\n" not in str(error.value)


def test_trusted_proxies_accept_addresses_and_networks() -> None:
    found = load_settings({"LITE_TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8 ,::1"}).trusted_proxies

    assert [str(n) for n in found] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


# --- a real server, with and without the example nginx in front -----------------------------------


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, str]]:
    tmp = tmp_path_factory.mktemp("proxy")
    env = app_env(
        local_env(tmp / "recordings"),
        LITE_TRUSTED_PROXIES="127.0.0.1",
    )
    with app_server(env, tmp) as app:
        proxy = NginxProxy(tmp, [app.url.removeprefix("http://")]).start()
        try:
            yield app, proxy.url
        finally:
            proxy.stop()


@pytest.fixture
async def via_nginx(behind_nginx: tuple[AppServer, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=behind_nginx[1], timeout=30) as client:
        yield client


async def _recorded(http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, Any], bytes]:
    user = new_user()
    headers = {"X-API-Key": await api_key(http, user)}
    made = (await http.post("/recordings", json={}, headers=headers)).json()
    chunks = wav_chunks(3, seconds=0.5)
    for seq, data in enumerate(chunks):
        answer = await put_chunk(http, made["session_uid"], seq, data, token=made["upload_token"])
        assert answer.status_code == 201, answer.text
    last = len(chunks)
    done = await put_chunk(
        http, made["session_uid"], last, b"", token=made["upload_token"], final=True
    )
    assert done.json()["status"] == "completed", done.text
    return headers, made, wav_master(chunks)


async def test_links_through_nginx_are_absolute_and_play_with_ranges(
    behind_nginx: tuple[AppServer, str], via_nginx: httpx.AsyncClient
) -> None:
    public = behind_nginx[1]
    headers, made, master = await _recorded(via_nginx)

    assert made["upload_url"] == f"{public}/ingest/sessions/{made['session_uid']}"
    found = await via_nginx.get(f"/recordings/{made['id']}/master", headers=headers)
    raw_url = found.json()["raw_url"]
    assert raw_url.startswith(f"{public}/recordings/{made['id']}/media/")
    media_id = raw_url.split("/")[-2]
    link = await via_nginx.get(
        f"/recordings/{made['id']}/media/{media_id}/download", headers=headers
    )
    url = link.json()["url"]
    assert url.startswith(f"{public}/recordings/{made['id']}/media/{media_id}/raw?")

    async with httpx.AsyncClient(timeout=30) as browser:  # no API key: the signature suffices
        part = await browser.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == master[100:1100]
        etag = part.headers["etag"]
        same = await browser.get(url, headers={"Range": "bytes=-10", "If-Range": etag})
        assert same.status_code == 206 and same.content == master[-10:]
        stale = await browser.get(url, headers={"Range": "bytes=-10", "If-Range": '"other"'})
        assert stale.status_code == 200 and stale.content == master
        assert "content-encoding" not in stale.headers


async def test_forged_forwarded_host_from_an_untrusted_client_is_ignored(
    tmp_path: Path,
) -> None:
    env = app_env(local_env(tmp_path / "rec"))
    with app_server(env, tmp_path) as app:
        async with httpx.AsyncClient(base_url=app.url, timeout=30) as http:
            headers = {"X-API-Key": await api_key(http, new_user()), **FORWARDED}
            made = (await http.post("/recordings", json={}, headers=headers)).json()

    assert made["upload_url"] == f"/ingest/sessions/{made['session_uid']}"


async def test_public_url_wins_over_forwarded_headers(tmp_path: Path) -> None:
    env = app_env(
        local_env(tmp_path / "rec"),
        LITE_TRUSTED_PROXIES="127.0.0.1",
        LITE_PUBLIC_URL="https://recordings.example.org/",
    )
    uid = new_uid()
    with app_server(env, tmp_path) as app:
        async with httpx.AsyncClient(base_url=app.url, timeout=30) as http:
            headers = {"X-API-Key": await api_key(http, new_user()), **FORWARDED}
            made = (
                await http.post("/recordings", json={"session_uid": uid}, headers=headers)
            ).json()

    assert made["upload_url"] == f"https://recordings.example.org/ingest/sessions/{uid}"
