"""The domain services of one process, built from settings (the app factory's lifespan holds
them; handlers read them from `request.state.services`). Knows nothing of HTTP."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import anyio.abc

from lite import observe, render
from lite.apikeys import ApiKeyStore
from lite.background import Background
from lite.catalog import Catalog
from lite.compaction import Compactor
from lite.dispatcher import DeliveryConfig, Dispatcher
from lite.endpoints import Endpoints
from lite.ingest import IngestService
from lite.leases import Leases, new_owner
from lite.lifecycle import Lifecycle
from lite.manifest import Manifest
from lite.metrics import Metrics
from lite.outbox import Outbox
from lite.playback import Playback
from lite.reconciler import Reconciler
from lite.recordings import Recordings, RecordingView
from lite.retention import RetentionPolicy
from lite.sessions import Sessions
from lite.settings import Settings
from lite.signing import SigningSecret
from lite.storage.base import Storage
from lite.storage.factory import open_storage
from lite.storage.measured import MeasuredStorage
from lite.waveforms import Waveforms


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
    sessions: Sessions
    playback: Playback
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


def _outbox(settings: Settings, storage: Storage, policy: RetentionPolicy) -> Outbox | None:
    """No delivery (LITE_WEBHOOK_POLL_MS=0): record no events either. An event's payload is
    the recording as the API shows it."""
    if not settings.lite_webhook_poll_ms:
        return None

    def payload(manifest: Manifest) -> dict[str, object]:
        return render.recording(RecordingView(manifest, {}, policy.expires_at(manifest)))

    return Outbox(storage, payload)


def _ingest(
    settings: Settings, storage: Storage, catalog: Catalog, metrics: Metrics
) -> IngestService:
    ingest = IngestService(
        storage,
        catalog,
        settings.lite_max_chunk_bytes,
        settings.lite_default_user_id,
        lambda owner: metrics.unowned_chunks.labels(owner).inc(),
        settings.lite_chunk_memory_bytes,
    )
    ingest.wav_gap_fill = settings.lite_wav_gap_fill == "silence"
    return ingest


def _recordings(
    settings: Settings,
    storage: Storage,
    catalog: Catalog,
    policy: RetentionPolicy,
    outbox: Outbox | None,
    secret: SigningSecret,
) -> Recordings:
    recordings = Recordings(
        storage, catalog, policy, outbox, secret, settings.lite_upload_token_ttl_seconds
    )
    recordings.storage_backend = settings.storage_backend
    return recordings


def _upkeep(
    settings: Settings,
    storage: Storage,
    catalog: Catalog,
    policy: RetentionPolicy,
    outbox: Outbox | None,
    endpoints: Endpoints,
    metrics: Metrics,
) -> tuple[Lifecycle, Dispatcher]:
    """The passes that share one lease owner: retention and compaction, webhook delivery."""
    owner, registry = new_owner(), metrics.registry
    compactor = Compactor(
        storage, catalog, settings.lite_keep_chunks_hours, settings.lite_compact_settle_seconds
    )
    lifecycle = Lifecycle(catalog, policy, compactor, Leases(storage, owner), outbox, registry)
    config = delivery_config(settings)
    return lifecycle, Dispatcher(storage, catalog, endpoints, config, owner, registry)


def wire(settings: Settings, storage: Storage, metrics: Metrics) -> Services:
    """Every service on one opened store."""
    policy = RetentionPolicy(settings.lite_retention_days)
    outbox = _outbox(settings, storage, policy)
    catalog = Catalog(storage, outbox)  # manifest changes record their webhook events
    secret = SigningSecret(storage, settings.lite_signing_key)
    ingest = _ingest(settings, storage, catalog, metrics)
    recordings = _recordings(settings, storage, catalog, policy, outbox, secret)
    waveforms = Waveforms(storage, recordings)
    ingest.on_master = waveforms.schedule
    endpoints = Endpoints(storage, settings.lite_webhook_allow_private)
    lifecycle, dispatcher = _upkeep(settings, storage, catalog, policy, outbox, endpoints, metrics)
    reconciler = Reconciler(catalog, ingest, settings.lite_session_idle_seconds)
    observe.connect(metrics, ingest, reconciler, catalog)
    return Services(
        settings=settings,
        storage=storage,
        api_keys=ApiKeyStore(storage),
        secret=secret,
        metrics=metrics,
        catalog=catalog,
        ingest=ingest,
        recordings=recordings,
        sessions=Sessions(storage, catalog, ingest, recordings),
        playback=Playback(storage, recordings, secret, settings.lite_download_url_ttl_seconds),
        reconciler=reconciler,
        outbox=outbox,
        endpoints=endpoints,
        lifecycle=lifecycle,
        dispatcher=dispatcher,
        waveforms=waveforms,
    )


async def build_services(settings: Settings, metrics: Metrics) -> Services:
    """Open the configured store and wire every service on it."""
    storage = MeasuredStorage(await open_storage(settings), metrics.storage_call)
    return wire(settings, storage, metrics)


def start_background(found: Services, group: anyio.abc.TaskGroup) -> None:
    """The loops beside the requests, each supervised: if one stops, /readyz names it
    (lite.background)."""
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
