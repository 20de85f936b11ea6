"""The in-process test tier: the real app from `lite.app.create_app`, its lifespan run in the
test's event loop, requests through httpx's ASGI transport (no socket, no subprocess).

For API shapes, auth and error answers. Sockets, crashes, Range streaming on the wire and
browsers keep their real Hypercorn servers (tests/servers.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from lite.app import create_app
from lite.settings import load_settings


@contextlib.asynccontextmanager
async def inproc_app(env: Mapping[str, str]) -> AsyncIterator[ASGIApp]:
    """The app over the store `env` names, started and stopped as a server would: its lifespan
    state is handed to every request, as Hypercorn does."""
    app = create_app(load_settings(env))
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                scope = {**scope, "state": dict(state or {})}
            await app(scope, receive, send)

        yield with_state


@contextlib.asynccontextmanager
async def inproc_client(env: Mapping[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the started app."""
    async with inproc_app(env) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://lite.test", timeout=30
        ) as client:
            yield client
