"""The OpenAPI document: valid OpenAPI 3.1, one operation per route and no more (so the document
cannot drift from the app), served with Swagger UI, and honoured by the real server (schemathesis
over every operation: no 5xx, every answer matches its documented status, type and schema)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from lite import openapi
from lite.app import create_app
from lite.http import console
from lite.settings import load_settings
from tests.playkit import ADMIN_TOKEN, INTERNAL_SECRET, Deployment, deploy
from tests.stores import local_env

pytestmark = pytest.mark.anyio
SCHEMATHESIS_EXAMPLES = 5
SCHEMATHESIS_SECONDS = 300  # a bound: ~30 s on an idle machine, ~100 s on a busy one


def _app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    settings = load_settings(local_env(tmp_path))
    found = set()
    for route in create_app(settings).routes:
        assert isinstance(route, Route), f"{route!r}: only plain routes can be documented"
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette adds HEAD to every GET; listed where it is ours
        found |= {(method.lower(), route.path) for method in methods}
    return found


def _documented() -> set[tuple[str, str]]:
    paths = openapi.document()["paths"]
    return {(method, path) for path, item in paths.items() for method in item}


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_has_an_operation_and_every_operation_a_route(tmp_path: Path) -> None:
    routes = _app_routes(tmp_path)
    documented = {(m, p) for m, p in _documented() if not (m == "head" and ("get", p) in routes)}
    undocumented = sorted(routes - documented)
    unrouted = sorted(documented - routes)
    hint = "document new routes in lite/openapi/paths.py (README: OpenAPI)"
    assert not undocumented, f"routes without an operation: {undocumented}; {hint}"
    assert not unrouted, f"operations without a route: {unrouted}"


def test_every_operation_names_its_security_and_errors() -> None:
    document = openapi.document()
    schemes = set(document["components"]["securitySchemes"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "security" in operation, (method, path)
            for requirement in operation["security"]:
                assert set(requirement) <= schemes, (method, path, requirement)
            assert operation["responses"]["default"]["content"]["application/json"], (method, path)


def test_file_names_in_the_document_are_the_served_ones() -> None:
    paths = openapi.document()["paths"]
    for path, served in (
        ("/console/{name}", console.CONSOLE_FILES),
        ("/docs/{name}", console.DOCS_FILES),
    ):
        (param,) = paths[path]["get"]["parameters"]
        assert sorted(param["schema"]["enum"]) == sorted(served)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(local_env(tmp_path))
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://lite") as found:
        yield found


async def test_served_document_and_docs_page(client: httpx.AsyncClient) -> None:
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == openapi.document()
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="docs/swagger-ui-bundle.js"' in page.text
    bundle = await client.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    again = await client.get(
        "/docs/swagger-ui-bundle.js", headers={"If-None-Match": bundle.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content
    missing = await client.get("/docs/../../etc/passwd")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_public_url_becomes_the_server(tmp_path: Path) -> None:
    settings = load_settings(local_env(tmp_path, LITE_PUBLIC_URL="https://rec.example.com"))
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://lite") as client:
        answer = await client.get("/openapi.json")
    assert answer.json()["servers"] == [{"url": "https://rec.example.com"}]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # Durability is not what this tests: no fsync keeps hundreds of small writes quick.
    workdir = tmp_path_factory.mktemp("openapi")
    with deploy("local", workdir, LOCAL_STORAGE_FSYNC="false") as deployment:
        yield deployment


@pytest.mark.slow
def test_schemathesis_finds_no_5xx_and_no_schema_mismatch(site: Deployment, tmp_path: Path) -> None:
    """Every operation, with a user key, the admin token and the internal secret (so the admin
    and ingest operations get past auth). One worker: hypothesis is not thread-safe on 3.11."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{site.url}/openapi.json",
        "--header",
        f"X-API-Key: {site.key}",
        "--header",
        f"X-Admin-API-Key: {ADMIN_TOKEN}",
        "--header",
        f"Authorization: Bearer {INTERNAL_SECRET}",
        "--max-examples",
        str(SCHEMATHESIS_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--seed",
        "1",
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "20",
    ]
    done = subprocess.run(
        command,
        cwd=tmp_path,  # its hypothesis database stays out of the repository
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_SECONDS,
    )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    # Every operation ran, but GET /openapi.json: schemathesis leaves out the document's own URL.
    operations = sum(len(item) for item in openapi.document()["paths"].values()) - 1
    assert f"Tested: {operations}\n" in done.stdout, report
