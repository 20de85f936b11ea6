"""A short way through the app for GET and HEAD `/raw`, the request a player sends at every seek.

The generic stack costs more per request than a 64 KiB answer does: metrics, CORS and exception
middleware, then the router trying every route's pattern in turn. This middleware sits inside the
access log and the trusted-proxy rewrite (so the request id, the access line and forwarded
addresses work as for any request) and sends a /raw request straight to its endpoint, counting
it in the same metrics and turning typed errors into the same answers as the exception middleware
would. Anything else (and, when CORS is on, a request with an Origin header) goes the usual way.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lite.metrics import Metrics, MetricsMiddleware

Handler = Callable[[Request, Exception], Awaitable[Response]]
# Starlette's default path parameter matches one path segment; the endpoint checks the ids.
_RAW = re.compile(r"/recordings/([^/]+)/media/([^/]+)/raw")


class RawShortcut:
    def __init__(
        self,
        app: ASGIApp,
        route: Route,
        metrics: Metrics,
        handlers: Mapping[Any, Handler],
        cors: bool,
    ) -> None:
        self.app = app
        self.route = route
        self.endpoint: Callable[[Request], Awaitable[Response]] = route.endpoint
        # Exception (the 500 answer) stays with the access log, as in the generic stack.
        self.handlers = {kind: h for kind, h in handlers.items() if kind is not Exception}
        self.cors = cors
        # Counted by the same middleware as every other request, around the endpoint alone.
        self.counted = MetricsMiddleware(self._serve, metrics)

    def _params(self, scope: Scope) -> dict[str, str] | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        if scope.get("root_path"):
            return None
        found = _RAW.fullmatch(scope["path"])
        if found is None:
            return None
        if self.cors and any(name == b"origin" for name, _ in scope["headers"]):
            return None
        return {"recording_id": found[1], "media_id": found[2]}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = self._params(scope)
        if params is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["endpoint"] = self.endpoint
        scope["path_params"] = params
        await self.counted(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None
