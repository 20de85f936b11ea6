"""The app factory: routes, middleware and the lifespan that builds and closes the services."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from lite.http import (
    admin,
    console,
    lifecycle,
    peaks,
    playback,
    recorders,
    recordings,
    system,
    vexa,
)
from lite.http.access import AccessLog
from lite.http.errors import HANDLERS
from lite.http.proxy import TrustedProxies
from lite.http.rawpath import RawShortcut
from lite.metrics import Metrics, MetricsMiddleware
from lite.services import Services, build_services, start_background
from lite.settings import Settings

log = logging.getLogger("lite")
Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[dict[str, Services]]]


async def print_demo_key(found: Services) -> None:
    """`make run`: on an empty key store, make a key for user 1 so a demo can start at once."""
    if await found.api_keys.any_exist():
        return
    plain, _ = await found.api_keys.create(1, "demo")
    print(f"Demo API key for user 1 (shown once): {plain}", flush=True)
    print(
        f"  try: curl -H 'X-API-Key: {plain}' http://{found.settings.lite_host}:"
        f"{found.settings.port}/recordings",
        flush=True,
    )


def cors(settings: Settings) -> list[Middleware]:
    """Players on another origin: Range requests allowed, range headers readable (also on 206,
    304 and 416, since the middleware adds them to every response)."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                "Range",
                "If-Range",
                "If-None-Match",
                "If-Modified-Since",
                "X-API-Key",
                "Authorization",
                "Content-Type",
                "X-Content-SHA256",
                "X-Final",
            ],
            expose_headers=[
                "Content-Range",
                "Accept-Ranges",
                "Content-Length",
                "ETag",
                "Content-Disposition",
                "Retry-After",
            ],
            max_age=600,
        )
    ]


def create_app(settings: Settings) -> Starlette:
    metrics = Metrics()
    return Starlette(
        routes=routes(settings),
        lifespan=lifespan_of(settings, metrics),
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        middleware=middleware(settings, metrics),
    )


def routes(settings: Settings) -> list[BaseRoute]:
    return [
        *system.routes,
        *admin.routes,
        *recordings.routes,
        *lifecycle.routes,
        *recorders.routes,
        *vexa.routes,
        *playback.routes,
        *peaks.routes,
        *console.routes(settings),
    ]


def middleware(settings: Settings, metrics: Metrics) -> list[Middleware]:
    return [
        Middleware(AccessLog),  # outermost: its id and access line cover every answer
        Middleware(TrustedProxies, networks=settings.trusted_proxies),
        Middleware(
            RawShortcut,
            route=playback.RAW_ROUTE,
            metrics=metrics,
            handlers=HANDLERS,
            cors=bool(settings.cors_origins),
        ),
        Middleware(MetricsMiddleware, metrics=metrics),
        *cors(settings),
    ]


def lifespan_of(settings: Settings, metrics: Metrics) -> Lifespan:
    """Builds the services at start-up, runs their background loops, closes them at the end."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        found = await build_services(settings, metrics)
        for warning in settings.warnings:
            log.warning("%s", warning)
        try:
            if settings.lite_demo_key:
                await print_demo_key(found)
            async with anyio.create_task_group() as background:
                start_background(found, background)
                # Lifespan state: every request sees it as `request.state.services`.
                yield {"services": found}
                background.cancel_scope.cancel()
        finally:
            await close_services(found)

    return lifespan


async def close_services(found: Services) -> None:
    if found.waveforms is not None:
        await found.waveforms.aclose()
    await found.dispatcher.aclose()
    await found.storage.aclose()
