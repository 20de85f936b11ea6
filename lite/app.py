"""The app factory: the only place settings become concrete objects (DESIGN §3)."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import anyio.abc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from lite import observe
from lite.apikeys import ApiKeyStore
from lite.background import Background
from lite.catalog import Catalog
from lite.compaction import Compactor
from lite.dispatcher import DeliveryConfig, Dispatcher
from lite.endpoints import Endpoints
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
from lite.ingest import IngestService
from lite.leases import Leases, new_owner
from lite.lifecycle import Lifecycle
from lite.metrics import Metrics, MetricsMiddleware
from lite.outbox import Outbox
from lite.reconciler import Reconciler
from lite.recordings import Recordings
from lite.retention import RetentionPolicy
from lite.settings import Settings
from lite.signing import SigningSecret
from lite.storage.base import Storage
from lite.storage.factory import open_storage
from lite.storage.measured import MeasuredStorage
from lite.waveforms import Waveforms

log = logging.getLogger("lite")


@dataclass
class Services:
    settings: Settings
    storage: Storage
    api_keys: ApiKeyStore
    secret: SigningSecret
    metrics: Metrics
    catalog: Catalog
    ingest: IngestService
    recordings: Recordings
    reconciler: Reconciler
    outbox: Outbox | None
    endpoints: Endpoints
    lifecycle: Lifecycle
    dispatcher: Dispatcher
    waveforms: Waveforms | None = None
    background: Background = field(default_factory=Background)


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        url=settings.lite_webhook_url,
        secret=settings.lite_webhook_secret,
        allow_private=settings.lite_webhook_allow_private,
        timeout_seconds=settings.lite_webhook_timeout_seconds,
        retry_base_seconds=settings.lite_webhook_retry_base_ms / 1000,
        give_up_seconds=settings.lite_webhook_give_up_seconds,
        lease_seconds=settings.lite_webhook_lease_seconds,
    )


async def build_services(settings: Settings, metrics: Metrics) -> Services:
    storage = MeasuredStorage(await open_storage(settings), metrics.storage_call)
    policy = RetentionPolicy(settings.lite_retention_days)
    outbox = None  # no delivery (LITE_WEBHOOK_POLL_MS=0): record no events either
    if settings.lite_webhook_poll_ms:
        outbox = Outbox(storage, lambda manifest: policy.public(manifest, manifest.public()))
    catalog = Catalog(storage, outbox)  # manifest changes record their webhook events
    ingest = IngestService(
        storage,
        catalog,
        settings.lite_max_chunk_bytes,
        settings.lite_default_user_id,
        lambda owner: metrics.unowned_chunks.labels(owner).inc(),
    )
    ingest.wav_gap_fill = settings.lite_wav_gap_fill == "silence"
    owner = new_owner()
    compactor = Compactor(
        storage, catalog, settings.lite_keep_chunks_hours, settings.lite_compact_settle_seconds
    )
    endpoints = Endpoints(storage, settings.lite_webhook_allow_private)
    registry = metrics.registry
    recordings = Recordings(storage, catalog, policy, outbox)
    recordings.storage_backend = settings.storage_backend
    waveforms = Waveforms(storage, recordings)
    ingest.on_master = waveforms.schedule
    reconciler = Reconciler(catalog, ingest, settings.lite_session_idle_seconds)
    observe.connect(metrics, ingest, reconciler, catalog)
    return Services(
        settings=settings,
        storage=storage,
        api_keys=ApiKeyStore(storage),
        secret=SigningSecret(storage, settings.lite_signing_key),
        metrics=metrics,
        catalog=catalog,
        ingest=ingest,
        recordings=recordings,
        reconciler=reconciler,
        outbox=outbox,
        endpoints=endpoints,
        lifecycle=Lifecycle(catalog, policy, compactor, Leases(storage, owner), outbox, registry),
        dispatcher=Dispatcher(
            storage, catalog, endpoints, delivery_config(settings), owner, registry
        ),
        waveforms=waveforms,
    )


def start_background(found: Services, group: anyio.abc.TaskGroup) -> None:
    """Each loop supervised: if one stops, /readyz names it (lite.background)."""
    settings, supervise = found.settings, found.background.supervise
    if settings.lite_reconcile_interval_seconds:
        loop = functools.partial(
            found.reconciler.run_forever, settings.lite_reconcile_interval_seconds
        )
        group.start_soon(supervise, "reconciler", loop)
    if settings.lite_lifecycle_interval_seconds:
        loop = functools.partial(
            found.lifecycle.run_forever, settings.lite_lifecycle_interval_seconds
        )
        group.start_soon(supervise, "lifecycle", loop)
    if found.outbox is not None:
        poll = settings.lite_webhook_poll_ms / 1000
        loop = functools.partial(found.dispatcher.run_forever, poll, found.outbox.wakeup)
        group.start_soon(supervise, "webhook dispatcher", loop)


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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        found = await build_services(settings, metrics)
        app.state.services = found
        for warning in settings.warnings:
            log.warning("%s", warning)
        try:
            if settings.lite_demo_key:
                await print_demo_key(found)
            async with anyio.create_task_group() as background:
                start_background(found, background)
                yield
                background.cancel_scope.cancel()
        finally:
            if found.waveforms is not None:
                await found.waveforms.aclose()
            await found.dispatcher.aclose()
            await found.storage.aclose()

    return Starlette(
        routes=[
            *system.routes,
            *admin.routes,
            *recordings.routes,
            *lifecycle.routes,
            *recorders.routes,
            *vexa.routes,
            *playback.routes,
            *peaks.routes,
            *console.routes(settings),
        ],
        lifespan=lifespan,
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        middleware=[
            Middleware(AccessLog),  # outermost: its id and access line cover every answer
            Middleware(TrustedProxies, networks=settings.trusted_proxies),
            Middleware(MetricsMiddleware, metrics=metrics),
            *cors(settings),
        ],
    )
