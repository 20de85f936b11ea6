"""The in-process test tier: the real app from `lite.app.create_app`, its lifespan run in the
test's event loop, requests through httpx's ASGI transport (no socket, no subprocess).

For API shapes, auth and error answers. Sockets, crashes, Range streaming on the wire and
browsers keep their real Hypercorn servers (tests/servers.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp, Receive, Scope, Send

from lite.app import create_app
from lite.settings import load_settings

URL = "http://lite.test"


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
        async with httpx.AsyncClient(transport=transport, base_url=URL, timeout=30) as client:
            yield client


class PortalTransport(httpx.BaseTransport):
    """httpx's ASGI transport for a synchronous client: each request runs in the portal's loop,
    where the app's lifespan runs too."""

    def __init__(self, portal: BlockingPortal, app: ASGIApp) -> None:
        self.portal = portal
        self.asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The sync request's body may be a sync-only stream: hand the ASGI side bytes.
        body = request.read()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        return self.portal.call(self._send, copy)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        answer = await self.asgi.handle_async_request(request)
        raw = b"".join([piece async for piece in answer.aiter_raw()])
        return httpx.Response(
            answer.status_code, headers=answer.headers, stream=httpx.ByteStream(raw)
        )


@contextlib.contextmanager
def inproc_sync_client(env: Mapping[str, str], **headers: str) -> Iterator[httpx.Client]:
    """The same for synchronous tests: the app's lifespan and every request run in an event
    loop of a thread of their own (an anyio blocking portal)."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(inproc_app(env)) as app,
        httpx.Client(
            transport=PortalTransport(portal, app), base_url=URL, headers=headers, timeout=30
        ) as client,
    ):
        yield client
