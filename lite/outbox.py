"""The durable webhook outbox in the store (`_system/outbox/<event id>.json`).

An event is written here *before* the change it announces, under an id derived from that change:
- a finished recording: the catalog calls `before_commit` between computing a manifest and its
  compare-and-swap, and the event id goes into the manifest too. The event happened exactly when
  the stored manifest lists its id;
- a deleted or expired recording: written before the deletion; it happened once the manifest is
  gone.
A crash between the two steps leaves an entry whose change never happened; the dispatcher drops
such entries after `UNCOMMITTED_GRACE_SECONDS`. No crash can lose an event that did happen.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import anyio

from lite import events
from lite.errors import AlreadyExists, NotFound, PreconditionFailed
from lite.leases import read_versioned
from lite.manifest import Manifest, now_iso
from lite.storage.base import ConditionalWriter, Storage, iter_bytes

OUTBOX_PREFIX = "_system/outbox/"
DEAD_LETTER_PREFIX = "_system/webhook-dead-letters/"
COMMITTED, GONE, CONFIRMED = "committed", "gone", "confirmed"
_CONFIRM_ATTEMPTS = 20
UNCOMMITTED_GRACE_SECONDS = 300.0

Render = Callable[[Manifest], dict[str, Any]]


class Wakeup:
    """Wakes a sleeping dispatcher when this process records an event."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def arm(self) -> anyio.Event:
        """A fresh event to wait on; arm before a pass so nothing recorded during it is missed."""
        self._event = anyio.Event()
        return self._event

    def set(self) -> None:
        if self._event is not None:
            self._event.set()


def entry_key(event_id: str) -> str:
    return f"{OUTBOX_PREFIX}{event_id}.json"


def new_entry(
    event_id: str, kind: str, manifest: Manifest, check: str, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "user_id": manifest.user_id,
        "recording_id": manifest.id,
        "session_uid": manifest.session_uid,  # finds the recording if it moves to another owner
        "check": check,
        "created": time.time(),
        "timestamp": now_iso(),
        "payload": payload,
        "deliveries": None,  # filled with the endpoints when first claimed
        "lease_owner": None,
        "lease_until": 0.0,
    }


class Outbox:
    def __init__(self, storage: Storage, render: Render) -> None:
        assert isinstance(storage, ConditionalWriter)
        self.storage = storage
        self.writer: ConditionalWriter = storage
        self.render = render
        self.wakeup = Wakeup()  # lets this process's dispatcher deliver at once

    async def record(self, entry: dict[str, Any]) -> None:
        body = json.dumps(entry, separators=(",", ":")).encode()
        # AlreadyExists: the same change, recorded by a retry or a racing writer.
        with contextlib.suppress(AlreadyExists):
            await self.writer.put_if_absent(entry_key(entry["id"]), iter_bytes(body))
        self.wakeup.set()

    def committed(self) -> None:
        """Catalog journal hook: a change is stored, so its event can go out now."""
        self.wakeup.set()

    async def before_commit(self, before: Manifest, after: Manifest) -> None:
        """Catalog journal hook: record the event this manifest change makes (if any)."""
        kind = events.transition(before, after)
        if kind is None:
            return
        event_id = events.change_event_id(kind, after)
        events.remember(after, event_id)
        await self.record(new_entry(event_id, kind, after, COMMITTED, self.render(after)))

    async def record_gone(self, manifest: Manifest, kind: str) -> None:
        """Before deleting a recording: its `recording.deleted` / `recording.expired` event.

        Events this manifest committed and not yet delivered are marked confirmed first: once
        the manifest is gone, nothing else could show that they happened."""
        for event_id in manifest.events:
            await self._confirm(event_id)
        event_id = events.gone_event_id(kind, manifest.id)
        await self.record(new_entry(event_id, kind, manifest, GONE, self.render(manifest)))

    async def _confirm(self, event_id: str) -> None:
        key = entry_key(event_id)
        for _ in range(_CONFIRM_ATTEMPTS):
            try:
                payload, etag = await read_versioned(self.storage, key)
                entry = json.loads(payload)
                if entry["check"] == CONFIRMED:
                    return
                entry["check"] = CONFIRMED
                body = json.dumps(entry, separators=(",", ":")).encode()
                await self.writer.put_if_match(key, iter_bytes(body), etag)
                return
            except NotFound:
                return  # delivered already
            except PreconditionFailed:
                await anyio.sleep(0.01)  # a dispatcher wrote it meanwhile: read again
