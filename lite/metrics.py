"""Prometheus metrics: one registry per app, so several apps in one process never collide."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lite_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lite_http_request_seconds",
            "Time to the response headers",
            ["method", "route"],
            registry=self.registry,
        )
        self.chunks = Counter(
            "lite_ingest_chunks", "Chunks received by outcome", ["outcome"], registry=self.registry
        )
        self.ingest_bytes = Counter(
            "lite_ingest_bytes", "Chunk bytes stored", registry=self.registry
        )
        self.finalized = Counter(
            "lite_finalized_media",
            "Media files assembled by outcome",
            ["outcome"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts requests by route template (not raw path, which would explode label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                route = _route_of(scope)
                self.metrics.latency.labels(scope["method"], route).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(
                scope["method"], _route_of(scope), str(status["code"])
            ).inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
