"""Connects the services' event hooks to the metrics (one place, so services import no metrics)."""

from __future__ import annotations

from lite.catalog import Catalog
from lite.ingest import IngestService
from lite.metrics import Metrics
from lite.reconciler import Reconciler


def connect(
    metrics: Metrics, ingest: IngestService, reconciler: Reconciler, catalog: Catalog
) -> None:
    def chunk(outcome: str, size: int) -> None:
        metrics.chunks.labels(outcome).inc()
        if size:
            metrics.ingest_bytes.inc(size)

    def finalized(outcome: str, seconds: float) -> None:
        metrics.finalized.labels(outcome).inc()
        metrics.finalize_seconds.observe(seconds)

    async def open_sessions() -> None:
        metrics.open_sessions.set(len(await catalog.open_sessions()))

    ingest.on_chunk = chunk
    ingest.on_finalized = finalized
    reconciler.on_pass = metrics.reconciler_passes.inc
    reconciler.on_error = metrics.reconciler_errors.inc
    metrics.before_scrape.append(open_sessions)
