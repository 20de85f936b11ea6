"""Delivers the outbox's events to webhook endpoints, at least once, from any replica.

Each pass lists the outbox. An entry due for delivery is claimed with a lease written into the
entry itself (compare-and-swap), so one replica delivers it; a claimant that crashes leaves a
lease that runs out. Failed attempts back off exponentially; after `give_up_seconds` the event is
written to the dead letters. Every attempt of an event carries the same `webhook-id`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from prometheus_client import CollectorRegistry, Counter

from lite import events, keys, ssrf
from lite.catalog import Catalog
from lite.endpoints import Endpoints
from lite.errors import LiteError, NotFound, PreconditionFailed, ResourceNotFound
from lite.leases import read_versioned
from lite.manifest import Manifest
from lite.outbox import (
    COMMITTED,
    CONFIRMED,
    DEAD_LETTER_PREFIX,
    OUTBOX_PREFIX,
    UNCOMMITTED_GRACE_SECONDS,
    Wakeup,
)
from lite.storage.base import ConditionalWriter, Storage, iter_bytes

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("lite.webhooks")
DEFAULT_TARGET = "default"
_MAX_DELAY = 3 * 3600.0
_PENDING_RECHECK_SECONDS = 0.25  # an event whose change is being stored right now


@dataclass(frozen=True)
class DeliveryConfig:
    url: str  # LITE_WEBHOOK_URL ("" for none)
    secret: str
    allow_private: bool
    timeout_seconds: float
    retry_base_seconds: float
    give_up_seconds: float
    lease_seconds: float


@dataclass(frozen=True)
class Target:
    id: str
    url: str
    secret: str


def next_delay(attempts: int, base: float) -> float:
    """Exponential: base, 2·base, 4·base, … capped at three hours."""
    return float(min(base * 2 ** max(attempts - 1, 0), _MAX_DELAY))


class Dispatcher:
    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        endpoints: Endpoints,
        config: DeliveryConfig,
        owner: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        assert isinstance(storage, ConditionalWriter)
        self.storage = storage
        self.writer: ConditionalWriter = storage
        self.catalog = catalog
        self.endpoints = endpoints
        self.config = config
        self.owner = owner
        self.outcomes = Counter(
            "lite_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, failed, refused, dead, dropped)",
            ["outcome"],
            registry=registry,
        )
        # Made at the first delivery: httpx is a large import that start-up does not need.
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def run_once(self) -> float:
        """One pass over the outbox; returns seconds until the earliest known next attempt."""
        soonest = float("inf")
        async for info in self.storage.list(OUTBOX_PREFIX):
            if not info.key.endswith(".json"):
                continue
            try:
                soonest = min(soonest, await self._handle(info.key))
            except (NotFound, PreconditionFailed):
                continue  # delivered or claimed by another replica meanwhile
            except LiteError as exc:
                log.warning("webhook entry %s: %s", info.key, exc.message)
            except (ValueError, KeyError, TypeError):
                log.exception("webhook entry %s is malformed: skipped", info.key)
        return soonest - time.time()

    async def _handle(self, key: str) -> float:
        payload, etag = await read_versioned(self.storage, key)
        entry = json.loads(payload)
        now = time.time()
        if entry["lease_owner"] not in (None, self.owner) and entry["lease_until"] > now:
            return float(entry["lease_until"])
        if entry["deliveries"] is None:  # not yet known to have happened
            happened = await self._happened(entry, now)
            if happened is None:
                return now + _PENDING_RECHECK_SECONDS
            if not happened:
                log.info("event %s (%s) never happened: dropped", entry["id"], entry["type"])
                self.outcomes.labels("dropped").inc()
                await self.storage.delete(key)
                return float("inf")
            entry["deliveries"] = {t.id: _fresh() for t in await self._targets(entry)}
        due = [t for t, d in entry["deliveries"].items() if not d["done"] and d["next_at"] <= now]
        if due:
            entry, etag = await self._claim(key, entry, etag, now)
            await self._deliver_due(entry, due)
        return await self._settle(key, entry, etag)

    async def _happened(self, entry: dict[str, Any], now: float) -> bool | None:
        """True: the change is stored; False: it never will be; None: not yet (still pending)."""
        manifest = await self._manifest(entry)
        if entry["check"] == CONFIRMED:
            return True  # confirmed by the deletion that followed it
        if entry["check"] == COMMITTED:
            if manifest is None:
                return False  # gone without confirming it: it was never committed
            if entry["id"] in manifest.events:
                return True
        elif manifest is None:
            return True
        return None if now - entry["created"] < UNCOMMITTED_GRACE_SECONDS else False

    async def _manifest(self, entry: dict[str, Any]) -> Manifest | None:
        """The event's recording now, also after an admin moved it to another owner."""
        rec = entry["recording_id"]
        with contextlib.suppress(ResourceNotFound):
            return (await self.catalog.load(entry["user_id"], rec))[0]
        uid = entry.get("session_uid")
        index = await self.catalog.session(uid) if isinstance(uid, str) and uid else None
        if index is None or index.recording_id != rec or index.user_id == entry["user_id"]:
            return None
        with contextlib.suppress(ResourceNotFound):
            return (await self.catalog.load(index.user_id, rec))[0]
        return None

    async def _targets(self, entry: dict[str, Any]) -> list[Target]:
        found = []
        if self.config.url:
            found.append(Target(DEFAULT_TARGET, self.config.url, self.config.secret))
        for endpoint in await self.endpoints.list_for(keys.check_id(entry["user_id"])):
            found.append(Target(endpoint.id, endpoint.url, endpoint.secret))
        return found

    async def _claim(
        self, key: str, entry: dict[str, Any], etag: str, now: float
    ) -> tuple[dict[str, Any], str]:
        entry["lease_owner"] = self.owner
        entry["lease_until"] = now + self.config.lease_seconds
        info = await self.writer.put_if_match(key, iter_bytes(_dump(entry)), etag)
        return entry, info.etag

    async def _deliver_due(self, entry: dict[str, Any], due: list[str]) -> None:
        targets = {t.id: t for t in await self._targets(entry)}
        async with anyio.create_task_group() as group:
            for target_id in due:
                target = targets.get(target_id)
                if target is None:  # the endpoint was deleted: nothing left to deliver to
                    entry["deliveries"][target_id].update(done=True, outcome="removed")
                    continue
                group.start_soon(self._attempt, entry, target)

    async def _attempt(self, entry: dict[str, Any], target: Target) -> None:
        state = entry["deliveries"][target.id]
        state["attempts"] += 1
        outcome, detail = await self._post(entry, target)
        state["last"] = detail
        log.info(
            "webhook %s %s to %s attempt %d: %s",
            entry["type"], entry["id"], target.id, state["attempts"], detail,
        )  # fmt: skip
        if outcome == "delivered":
            state.update(done=True, outcome="delivered")
        elif time.time() - entry["created"] >= self.config.give_up_seconds:
            state.update(done=True, outcome="dead")
            outcome = "dead"
        else:
            state["next_at"] = time.time() + next_delay(
                state["attempts"], self.config.retry_base_seconds
            )
        self.outcomes.labels(outcome).inc()

    async def _post(self, entry: dict[str, Any], target: Target) -> tuple[str, str]:
        import httpx

        try:
            pinned = await ssrf.resolve(target.url, self.config.allow_private)
        except ssrf.TargetRefused as exc:
            return "refused", exc.message
        body = events.envelope(entry["type"], entry["timestamp"], entry["payload"])
        headers = {
            **events.sign(target.secret, entry["id"], int(time.time()), body),
            "content-type": "application/json",
            "host": pinned.host_header,
            "user-agent": "vexa-lite-webhooks",
        }
        try:
            response = await self.client.post(
                pinned.url,
                content=body,
                headers=headers,
                timeout=self.config.timeout_seconds,
                extensions=pinned.extensions,
            )
        except httpx.TimeoutException:
            return "failed", "timed out"
        except httpx.HTTPError as exc:
            return "failed", f"{type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return "delivered", f"HTTP {response.status_code}"
        return "failed", f"HTTP {response.status_code}"

    async def _settle(self, key: str, entry: dict[str, Any], etag: str) -> float:
        """Write the attempts back (releasing the lease); a finished event leaves the outbox."""
        deliveries = entry["deliveries"]
        if all(d["done"] for d in deliveries.values()):
            dead = {t: d for t, d in deliveries.items() if d.get("outcome") == "dead"}
            if dead:
                letter = f"{DEAD_LETTER_PREFIX}{entry['id']}.json"
                await self.storage.put(letter, iter_bytes(_dump(entry)))
                log.error("webhook event %s gave up on %s", entry["id"], ", ".join(dead))
            await self.storage.delete(key)
            return float("inf")
        if entry["lease_owner"] == self.owner:
            entry["lease_owner"], entry["lease_until"] = None, 0.0
            await self.writer.put_if_match(key, iter_bytes(_dump(entry)), etag)
        return float(min(d["next_at"] for d in deliveries.values() if not d["done"]))

    async def run_forever(self, poll_seconds: float, wakeup: Wakeup) -> None:
        """Passes until cancelled; sleeps until the next attempt, a new event, or the poll time."""
        while True:
            woken = wakeup.arm()
            try:
                wait = await self.run_once()
            except Exception:  # one bad pass must not end delivery; the next one retries
                log.exception("webhook pass failed")
                wait = poll_seconds
            with anyio.move_on_after(max(0.05, min(wait, poll_seconds))):
                await woken.wait()


def _fresh() -> dict[str, Any]:
    return {"attempts": 0, "next_at": 0.0, "done": False, "outcome": None, "last": None}


def _dump(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":")).encode()
