"""Prometheus metrics: one registry per app, so several apps in one process never collide."""

from __future__ import annotations

import platform
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lite import __version__

# Storage calls take from well under a millisecond (local stat) to seconds (a large S3 put).
STORAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
FINALIZE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[Any, ...], Any] = {}
        self._http_and_ingest()
        self._finalize_and_upkeep()
        self.build = Info("lite_build", "Version of the running service", registry=self.registry)
        self.build.info({"version": __version__, "python": platform.python_version()})
        # Async work to run before each scrape (e.g. counting open sessions); set by the app.
        self.before_scrape: list[Callable[[], Awaitable[None]]] = []

    def _counter(self, name: str, text: str, *labels: str) -> Counter:
        return Counter(name, text, labels, registry=self.registry)

    def _histogram(
        self,
        name: str,
        text: str,
        *labels: str,
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        return Histogram(name, text, labels, buckets=buckets, registry=self.registry)

    def _http_and_ingest(self) -> None:
        self.requests = self._counter(
            "lite_http_requests", "HTTP requests by route and status", "method", "route", "status"
        )
        self.latency = self._histogram(
            "lite_http_request_seconds", "Time to the response headers", "method", "route"
        )
        self.served_bytes = self._counter(
            "lite_http_response_bytes", "Response body bytes sent, by route", "route"
        )
        self.chunks = self._counter("lite_ingest_chunks", "Chunks received by outcome", "outcome")
        self.ingest_bytes = self._counter("lite_ingest_bytes", "Chunk bytes stored")
        self.unowned_chunks = self._counter(
            "lite_ingest_unowned_chunks",
            "Chunks of sessions nobody registered, by where they went (default_user, unassigned)",
            "owner",
        )

    def _finalize_and_upkeep(self) -> None:
        self.finalized = self._counter(
            "lite_finalized_media", "Media files assembled by outcome", "outcome"
        )
        self.finalize_seconds = self._histogram(
            "lite_finalize_seconds",
            "Time to assemble a session's masters",
            buckets=FINALIZE_BUCKETS,
        )
        self.storage_seconds = self._histogram(
            "lite_storage_seconds",
            "Storage calls by backend, operation and outcome",
            "backend",
            "operation",
            "outcome",
            buckets=STORAGE_BUCKETS,
        )
        self.reconciler_passes = self._counter(
            "lite_reconciler_passes", "Reconciler passes completed"
        )
        self.reconciler_errors = self._counter(
            "lite_reconciler_errors", "Sessions or passes the reconciler failed on"
        )
        self.open_sessions = Gauge(
            "lite_open_sessions",
            "Sessions not yet finalized (at the last scrape)",
            registry=self.registry,
        )

    def headers_sent(self, method: str, route: str, seconds: float) -> None:
        self._child(self.latency, method, route).observe(seconds)

    def request_done(self, method: str, route: str, status: int, sent: int) -> None:
        """Count one finished request and the body bytes it sent."""
        self._child(self.requests, method, route, str(status)).inc()
        if sent:
            self._child(self.served_bytes, route).inc(sent)

    def storage_call(self, backend: str, operation: str, outcome: str, seconds: float) -> None:
        self._child(self.storage_seconds, backend, operation, outcome).observe(seconds)

    def _child(self, metric: Any, *values: str) -> Any:
        # labels() takes a lock and checks its arguments on every call, three or four times a
        # request; the children it returns live as long as the registry, so they are kept here.
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    async def refresh(self) -> None:
        for update in self.before_scrape:
            await update()


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
        status: dict[str, Any] = {"code": 500, "bytes": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                elapsed = time.perf_counter() - started
                self.metrics.headers_sent(scope["method"], _route_of(scope), elapsed)
            elif message["type"] == "http.response.body":
                status["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.request_done(
                scope["method"], _route_of(scope), status["code"], status["bytes"]
            )


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
