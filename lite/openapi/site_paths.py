"""The public routes: health, readiness, metrics, the console and this document with Swagger UI."""

from __future__ import annotations

from typing import Any

from lite.openapi.build import PUBLIC, answer, json_content, op, path_param

# The files lite/http/console.py serves (a test keeps the two lists equal).
CONSOLE_FILE = path_param(
    "name",
    {
        "type": "string",
        "enum": ["app.js", "api.js", "format.js", "player.js", "upload.js", "style.css", "docs.js"],
    },
    "a file of the console",
)
DOCS_FILE = path_param(
    "name", {"type": "string", "enum": ["swagger-ui-bundle.js", "swagger-ui.css"]}, "Swagger UI"
)


def _text(description: str, media_type: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


PAGE = _text("the page", "text/html")

SITE_PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": op("Liveness (HEAD too)", "system", PUBLIC, {"200": answer("alive", "Health")}),
    },
    "/readyz": {
        "get": op(
            "Storage reachable and writable (else 503)",
            "system",
            PUBLIC,
            {"200": answer("ready", "Ready")},
        )
    },
    "/metrics": {
        "get": op(
            "Prometheus metrics",
            "system",
            PUBLIC,
            {"200": _text("metrics in the text exposition format", "text/plain")},
        )
    },
    "/": {"get": op("The console (a page)", "console", PUBLIC, {"200": PAGE})},
    "/console/{name}": {
        "get": op(
            "The console's script and style",
            "console",
            PUBLIC,
            {"200": {"description": "the file"}},
            params=[CONSOLE_FILE],
        )
    },
    "/openapi.json": {
        "get": op(
            "This document",
            "console",
            PUBLIC,
            {"200": {"description": "OpenAPI 3.1", "content": json_content({"type": "object"})}},
        )
    },
    "/docs": {"get": op("Swagger UI for this document", "console", PUBLIC, {"200": PAGE})},
    "/docs/{name}": {
        "get": op(
            "Swagger UI's files",
            "console",
            PUBLIC,
            {"200": {"description": "the file"}},
            params=[DOCS_FILE],
        )
    },
}
