"""Webhooks at the service level: signatures (checked with PyPI's standardwebhooks), the address
check, the outbox's "did it happen" rule, retries against a real receiver, dead letters.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio
import pytest
from standardwebhooks.webhooks import Webhook

from lite import events, keys, ssrf
from lite.dispatcher import next_delay
from lite.errors import ConfigError
from lite.manifest import Manifest, SessionIndex
from lite.outbox import DEAD_LETTER_PREFIX, OUTBOX_PREFIX, entry_key, new_entry
from lite.settings import load_settings
from lite.storage.base import Storage, iter_bytes
from tests.ingestkit import new_user, wav_chunks
from tests.lifecyclekit import SECRET, Replica, config, receiver_server
from tests.stores import new_store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Storage]:
    async with new_store("local", tmp_path).opened() as storage:
        yield storage


# --- signing and targets -----------------------------------------------------------------------


def test_signature_verifies_with_standardwebhooks() -> None:
    body = events.envelope("recording.completed", "2026-01-01T00:00:00Z", {"id": 7})
    headers = events.sign(SECRET, "msg_abc", int(time.time()), body)
    assert Webhook(SECRET).verify(body, headers)["data"] == {"id": 7}
    tampered = body.replace(b"7", b"8")
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(tampered, headers)


def test_new_secrets_are_whsec_and_usable() -> None:
    secret = events.new_secret()
    assert secret.startswith("whsec_") and len(events.secret_bytes(secret)) == 32
    body = b"{}"
    Webhook(secret).verify(body, events.sign(secret, "msg_1", int(time.time()), body))


@pytest.mark.parametrize("bad", ["secret", "whsec_!!!", "whsec_c2hvcnQ="])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        events.secret_bytes(bad)
    with pytest.raises(ConfigError, match="LITE_WEBHOOK_SECRET"):
        load_settings({"LITE_WEBHOOK_URL": "https://example.com/h", "LITE_WEBHOOK_SECRET": bad})


def test_webhook_url_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="LITE_WEBHOOK_SECRET"):
        load_settings({"LITE_WEBHOOK_URL": "https://example.com/h"})
    settings = load_settings(
        {"LITE_WEBHOOK_URL": "https://example.com/h", "LITE_WEBHOOK_SECRET": SECRET}
    )
    assert settings.lite_webhook_url == "https://example.com/h"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://localhost/h", "http://[::1]/h"])
def test_a_loopback_webhook_url_is_refused_at_start(url: str) -> None:
    env = {"LITE_WEBHOOK_URL": url, "LITE_WEBHOOK_SECRET": SECRET}
    with pytest.raises(ConfigError, match="LITE_WEBHOOK_ALLOW_PRIVATE"):
        load_settings(env)
    assert load_settings({**env, "LITE_WEBHOOK_ALLOW_PRIVATE": "true"}).lite_webhook_url == url


async def test_a_refused_target_is_counted_and_never_contacted(store: Storage) -> None:
    with receiver_server([200]) as (receiver, _):
        # The host name resolves to loopback: refused at delivery, not only at start.
        url = receiver.url.replace("127.0.0.1", "localhost")
        replica = Replica(store, delivery=config(url, allow_private=False))
        await replica.record(new_user())
        await replica.dispatcher.run_once()
        await replica.dispatcher.aclose()
    assert receiver.attempts == []
    assert replica.dispatcher.outcomes.labels("refused")._value.get() == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_and_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(ssrf.TargetRefused, match="LITE_WEBHOOK_ALLOW_PRIVATE"):
        await ssrf.resolve(url, allow_private=False)


async def test_allowed_targets_are_pinned_to_the_checked_address() -> None:
    pinned = await ssrf.resolve("http://localhost:8123/hook?x=1", allow_private=True)
    assert pinned.host_header == "localhost:8123"
    assert pinned.url in ("http://127.0.0.1:8123/hook?x=1", "http://[::1]:8123/hook?x=1")
    public = await ssrf.resolve("https://93.184.215.14/hook", allow_private=False)
    assert public.url == "https://93.184.215.14/hook"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///x", "https://u:p@example.com/"])
async def test_malformed_targets_are_refused(url: str) -> None:
    with pytest.raises(ssrf.TargetRefused):
        await ssrf.resolve(url, allow_private=True)


async def test_endpoint_registration_checks_the_address(store: Storage) -> None:
    strict = Replica(store).endpoints
    strict.allow_private = False
    with pytest.raises(ssrf.TargetRefused):
        await strict.create(1, "http://127.0.0.1:8080/hook")
    assert await strict.list_for(1) == []


def test_backoff_doubles_and_is_capped() -> None:
    assert [next_delay(n, 5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert next_delay(30, 5) == 3 * 3600


# --- delivery against a real receiver ----------------------------------------------------------


async def deliver_until(replica: Replica, done: object, within: float = 20) -> None:
    with anyio.fail_after(within):
        while not done():  # type: ignore[operator]
            await replica.dispatcher.run_once()
            await anyio.sleep(0.05)


async def test_retries_then_exactly_one_accepted_delivery_per_event(store: Storage) -> None:
    with receiver_server([500, 500, 500, "hang", 200], hang_seconds=1.5) as (receiver, _):
        replica = Replica(store, delivery=config(receiver.url, timeout_seconds=0.5))
        user = new_user()
        index = await replica.record(user)
        await replica.recordings.delete(user, index.recording_id)
        await deliver_until(replica, lambda: len(receiver.accepted()) == 2)
        await anyio.sleep(0.5)
        await replica.dispatcher.run_once()  # nothing is left to send
        await replica.dispatcher.aclose()
    accepted = receiver.accepted()
    assert sorted(e["type"] for e in receiver.events()) == [
        "recording.completed",
        "recording.deleted",
    ]
    for delivery in accepted:
        tries = [a for a in receiver.attempts if a["id"] == delivery["id"]]
        assert [a["step"] for a in tries] == [500, 500, 500, "hang", 200]
        for attempt in tries:  # every attempt signed, same id, same body
            Webhook(SECRET).verify(attempt["body"], attempt["headers"])
            assert attempt["body"] == delivery["body"]
    completed = next(e for e in receiver.events() if e["type"] == "recording.completed")
    assert completed["data"]["id"] == index.recording_id
    assert completed["data"]["status"] == "completed"
    assert [k async for k in _keys(store, OUTBOX_PREFIX)] == []
    outcomes = replica.dispatcher.outcomes
    assert outcomes.labels("delivered")._value.get() == 2
    assert outcomes.labels("failed")._value.get() == 8


async def _keys(store: Storage, prefix: str) -> AsyncIterator[str]:
    async for info in store.list(prefix):
        yield info.key


async def test_an_event_whose_change_never_happened_is_dropped(store: Storage) -> None:
    with receiver_server([200]) as (receiver, _):
        replica = Replica(store, delivery=config(receiver.url))
        user = new_user()
        index = await replica.record(user)
        manifest, _ = await replica.catalog.load(user, index.recording_id)
        # A crash after writing the outbox entry and before the manifest's compare-and-swap:
        crashed = new_entry("msg_never", "recording.failed", manifest, "committed", {})
        crashed["created"] = time.time() - 3600  # older than the grace period
        await replica.outbox.record(crashed)
        pending = new_entry("msg_pending", "recording.failed", manifest, "committed", {})
        await replica.outbox.record(pending)
        await deliver_until(replica, lambda: len(receiver.accepted()) == 1)
        await replica.dispatcher.run_once()
        await replica.dispatcher.aclose()
    assert [e["type"] for e in receiver.events()] == ["recording.completed"]
    left = [k async for k in _keys(store, OUTBOX_PREFIX)]
    assert left == [entry_key("msg_pending")]  # still within its grace: perhaps not yet stored


async def test_gives_up_into_a_dead_letter(store: Storage) -> None:
    with receiver_server([500]) as (receiver, _):
        delivery = config(receiver.url, give_up_seconds=0.5, retry_base_seconds=0.1)
        replica = Replica(store, delivery=delivery)
        await replica.record(new_user())
        letters: list[str] = []

        async def dead() -> None:
            letters.extend([k async for k in _keys(store, DEAD_LETTER_PREFIX)])

        with anyio.fail_after(10):
            while not letters:
                await replica.dispatcher.run_once()
                await dead()
                await anyio.sleep(0.1)
        await replica.dispatcher.aclose()
    assert [k async for k in _keys(store, OUTBOX_PREFIX)] == []
    letter = json.loads(await _read(store, letters[0]))
    assert letter["deliveries"]["default"]["outcome"] == "dead"
    assert letter["deliveries"]["default"]["attempts"] >= 2
    assert receiver.accepted() == []


async def _read(store: Storage, key: str) -> bytes:
    reader = await store.open_range(key)
    try:
        return b"".join([b async for b in reader])
    finally:
        await reader.aclose()


async def test_per_user_endpoints_get_their_own_signed_copy(store: Storage) -> None:
    with receiver_server([200]) as (receiver, _):
        replica = Replica(store, delivery=config(""))  # no deployment-wide URL
        user, other = new_user(), new_user()
        endpoint = await replica.endpoints.create(user, receiver.url, "mine")
        await replica.record(user)
        await replica.record(other)  # nobody listens to this user
        await deliver_until(replica, lambda: len(receiver.accepted()) == 1)
        await anyio.sleep(0.3)
        await replica.dispatcher.run_once()
        await replica.dispatcher.aclose()
    [delivery] = receiver.accepted()
    Webhook(endpoint.secret).verify(delivery["body"], delivery["headers"])
    assert json.loads(delivery["body"])["data"]["user_id"] == user
    assert "secret" not in endpoint.public()


def test_change_events() -> None:
    before = Manifest(id=1, user_id=1, session_uid="s")
    after = Manifest(id=1, user_id=1, session_uid="s", status="completed")
    assert events.transition(before, after) == events.COMPLETED_EVENT
    assert events.transition(after, after) is None
    failed = Manifest(id=1, user_id=1, session_uid="s", status="failed")
    assert events.transition(before, failed) == events.FAILED_EVENT
    assert events.change_event_id("a", after) == events.change_event_id("a", after)
    assert events.gone_event_id("x", 1) != events.gone_event_id("x", 2)


async def test_a_malformed_outbox_entry_is_skipped(store: Storage) -> None:
    with receiver_server([200]) as (receiver, _):
        replica = Replica(store, delivery=config(receiver.url))
        await store.put(OUTBOX_PREFIX + "garbage.json", iter_bytes(b"{not json"))
        await replica.record(new_user())
        await deliver_until(replica, lambda: len(receiver.accepted()) == 1)
        await replica.dispatcher.aclose()
    assert [e["type"] for e in receiver.events()] == ["recording.completed"]


async def test_a_failed_recording_sends_recording_failed(store: Storage) -> None:
    with receiver_server([200]) as (receiver, _):
        replica = Replica(store, delivery=config(receiver.url))
        mismatched = wav_chunks(1, rate=16000) + wav_chunks(1, rate=8000, seed=5)
        index = await replica.record(new_user(), mismatched)
        await deliver_until(replica, lambda: len(receiver.accepted()) == 1)
        await replica.dispatcher.aclose()
    [event] = verified_events(receiver)
    assert event["type"] == "recording.failed"
    assert event["data"]["id"] == index.recording_id
    assert "cannot be joined" in event["data"]["error_message"]


def verified_events(receiver: Any) -> list[dict[str, Any]]:
    return [Webhook(SECRET).verify(a["body"], a["headers"]) for a in receiver.accepted()]


async def test_an_event_follows_its_recording_to_a_new_owner(store: Storage) -> None:
    with receiver_server([200]) as (receiver, _):
        replica = Replica(store, delivery=config(receiver.url))
        old, new = new_user(), new_user()
        index = await replica.record(old)
        # An admin moves the recording before delivery (as owner assignment does):
        manifest, _ = await replica.catalog.load(old, index.recording_id)
        manifest.user_id = new
        await store.put(keys.manifest_key(new, index.recording_id), iter_bytes(manifest.to_json()))
        await store.delete(keys.manifest_key(old, index.recording_id))
        moved = SessionIndex(**{**asdict(index), "user_id": new})
        await store.put(keys.session_index_key(index.session_uid), iter_bytes(moved.to_json()))
        replica.catalog.forget(index.session_uid)
        await deliver_until(replica, lambda: len(receiver.accepted()) == 1)
        await replica.dispatcher.aclose()
    assert [e["type"] for e in verified_events(receiver)] == ["recording.completed"]
