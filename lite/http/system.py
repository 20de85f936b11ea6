"""Liveness, readiness and metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lite.errors import StorageError
from lite.http.auth import services
from lite.http.errors import RETRY_AFTER_SECONDS, error_response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    found = services(request)
    stopped = found.background.problems()
    if stopped:  # a replica that stopped finalizing must be replaced, not kept in rotation
        response = error_response(503, "not_ready", "; ".join(stopped))
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    try:
        await found.storage.check_writable()
    except StorageError as exc:
        response = error_response(503, "not_ready", f"storage not ready: {exc.message}")
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    return JSONResponse({"status": "ready", "storage": found.storage.name})


async def metrics(request: Request) -> Response:
    found = services(request).metrics
    await found.refresh()
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
