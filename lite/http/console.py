"""The console (a page for people at `/`), the OpenAPI document and its Swagger UI at `/docs`.

Files come from the package (lite/console/), read once on first request (not at start-up: the
Swagger bundle alone is 1.7 MB to read and hash, and the OpenAPI document has to be built);
nothing is fetched from elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lite import csp
from lite.errors import ResourceNotFound
from lite.settings import Settings

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
CONSOLE_FILES = ("app.js", "api.js", "format.js", "player.js", "upload.js", "style.css", "docs.js")
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _asset(*parts: str) -> Asset:
    from importlib import resources  # with the first file served, not at start-up

    body = resources.files("lite").joinpath("console", *parts).read_bytes()
    suffix = "." + parts[-1].rsplit(".", 1)[-1]
    return Asset(body, _TYPES[suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _json_asset(document: object) -> Asset:
    body = json.dumps(document, indent=1).encode()
    return Asset(body, _TYPES[".json"], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _serve(request: Request, asset: Asset, policy: str | None = None) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",  # revalidate: a new version shows at once
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if policy:
        headers["Content-Security-Policy"] = policy
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers=headers, media_type=asset.content_type)


def _once(load: Callable[[], Asset]) -> Callable[[], Asset]:
    """`load` run on the first call only (concurrent first calls may both load: same result)."""
    return functools.cache(load)


def _files(names: tuple[str, ...], *folder: str) -> dict[str, Callable[[], Asset]]:
    return {name: _once(functools.partial(_asset, *folder, name)) for name in names}


def _spec(settings: Settings) -> Asset:
    from lite import openapi  # built only when someone asks for the document

    document = openapi.document()
    if settings.lite_public_url:
        document["servers"] = [{"url": settings.lite_public_url}]
    return _json_asset(document)


def routes(settings: Settings) -> list[BaseRoute]:
    page = _once(functools.partial(_asset, "index.html"))
    docs = _once(functools.partial(_asset, "docs.html"))
    console_files = _files(CONSOLE_FILES)
    docs_files = _files(DOCS_FILES, "vendor", "swagger-ui")
    spec = _once(functools.partial(_spec, settings))
    page_policy = csp.console_policy(csp.media_origins(settings))

    async def index(request: Request) -> Response:
        return _serve(request, page(), page_policy)

    async def console_file(request: Request) -> Response:
        found = console_files.get(request.path_params["name"])
        if found is None:
            raise ResourceNotFound("no such console file")
        return _serve(request, found())

    async def openapi_json(request: Request) -> Response:
        return _serve(request, spec())

    async def docs_page(request: Request) -> Response:
        return _serve(request, docs(), csp.docs_policy())

    async def docs_file(request: Request) -> Response:
        found = docs_files.get(request.path_params["name"])
        if found is None:
            raise ResourceNotFound("no such docs file")
        return _serve(request, found())

    return [
        Route("/", index, methods=["GET"]),
        Route("/console/{name}", console_file, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/{name}", docs_file, methods=["GET"]),
    ]
