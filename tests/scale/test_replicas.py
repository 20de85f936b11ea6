"""Three replicas on one distributed store behind nginx, while replicas die and restart.

SeaweedFS runs as a real cluster (master, two volume servers, filer, S3 gateway); three
`python -m lite serve` replicas share one bucket; the shipped nginx example round-robins over
them. 50 recorders speak Vexa's bot wire format (multipart POST /internal/recordings/upload)
through nginx and retry a chunk that got no answer or a 502/503/504, as a bot must. Meanwhile one
replica is `kill -9`ed and later restarted and a second is restarted gracefully. Everything is
then checked against the bucket itself, not through the app. Vexa's own bot code (tests/vexa)
also records one session through nginx.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lite import keys
from tests.ingestkit import ADMIN, VexaBot, new_user, wav_chunks, wav_master
from tests.mediafiles import pcm
from tests.scale.cluster import IDLE_SECONDS, Stack, stack
from tests.servers import s3_client
from tests.vexa import botkit

SESSIONS = 50
CHUNKS = 5
CHROMIUM = "/usr/bin/chromium"
RETRYABLE = {502, 503, 504}


@dataclass
class Recorder:
    """One bot's session and what the service acknowledged."""

    uid: str
    user: int
    chunks: list[bytes]
    acked: dict[int, dict[str, Any]] = field(default_factory=dict)
    retries: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per acknowledged chunk

    @property
    def master(self) -> bytes:
        return wav_master(self.chunks)


@dataclass
class Load:
    stack: Stack
    recorders: list[Recorder]
    seconds: float
    chaos: list[str]
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    master_modified: dict[str, Any] = field(default_factory=dict)


async def _send(bot: VexaBot, recorder: Recorder, seq: int, data: bytes, final: bool) -> None:
    for _ in range(120):
        sent = time.monotonic()
        try:
            answer = await bot.send(seq, data, is_final=final)
            recorder.latencies.append(time.monotonic() - sent)
        except httpx.TransportError:
            answer = None
        if answer is None or answer.status_code in RETRYABLE:
            recorder.retries += 1
            await asyncio.sleep(0.25)
            continue
        assert answer.status_code in (200, 201), answer.text
        recorder.acked[seq] = answer.json()
        return
    raise AssertionError(f"{recorder.uid} seq {seq} was never acknowledged")


async def _record(url: str, recorder: Recorder, start: float, rng: random.Random) -> None:
    await asyncio.sleep(start)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        bot = VexaBot(http, recorder.uid, recorder.user)
        for seq, data in enumerate(recorder.chunks):
            await _send(bot, recorder, seq, data, False)
            await asyncio.sleep(rng.uniform(0.2, 0.6))
        await _send(bot, recorder, len(recorder.chunks), b"", True)


def _chaos(target: Stack, log: list[str], errors: list[BaseException]) -> None:
    """kill -9 replica 0; restart replica 1 gracefully; bring replica 0 back."""
    try:
        killed, restarted = target.replicas[0], target.replicas[1]
        time.sleep(1.5)
        killed.kill()
        log.append(f"{time.monotonic():.1f} kill -9 replica 0")
        time.sleep(1.5)
        restarted.stop(grace=15)
        log.append(f"{time.monotonic():.1f} replica 1 stopped (SIGTERM)")
        restarted.start(timeout=60)
        log.append(f"{time.monotonic():.1f} replica 1 back")
        killed.start(timeout=60)
        log.append(f"{time.monotonic():.1f} replica 0 back")
    except BaseException as error:
        errors.append(error)


def _run_load(target: Stack) -> Load:
    rng = random.Random(15)
    recorders = [
        Recorder(
            f"scale-{i}-{rng.getrandbits(48):012x}",
            new_user(),
            wav_chunks(CHUNKS, 0.1, seed=i * 100),
        )
        for i in range(SESSIONS)
    ]
    log: list[str] = []
    errors: list[BaseException] = []
    chaos = threading.Thread(target=_chaos, args=(target, log, errors))

    async def drive() -> None:
        chaos.start()
        await asyncio.gather(
            *(
                _record(target.url, r, rng.uniform(0, 4), random.Random(i))
                for i, r in enumerate(recorders)
            )
        )

    started = time.monotonic()
    asyncio.run(drive())
    chaos.join(120)
    assert not errors, errors
    return Load(target, recorders, time.monotonic() - started, log)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("scale")) as started:
        yield started


@pytest.fixture(scope="module")
def load(cluster: Stack) -> Load:
    done = _run_load(cluster)
    # What finalize left, read straight from the bucket: later checks compare against it.
    client = s3_client(cluster.cluster.endpoint)
    try:
        for recorder in done.recorders:
            manifest, master = _stored(client, cluster.bucket, recorder)
            done.manifests[recorder.uid] = manifest
            done.master_modified[recorder.uid] = master["LastModified"]
    finally:
        client.close()
    return done


def _recording_id(recorder: Recorder) -> int:
    ids = {answer["recording_id"] for answer in recorder.acked.values()}
    assert len(ids) == 1, f"{recorder.uid} answered with recordings {ids}"
    return int(ids.pop())


def _stored(client: Any, bucket: str, recorder: Recorder) -> tuple[dict[str, Any], dict[str, Any]]:
    rec = _recording_id(recorder)
    manifest_obj = client.get_object(Bucket=bucket, Key=keys.manifest_key(recorder.user, rec))
    manifest = json.loads(manifest_obj["Body"].read())
    master = client.get_object(
        Bucket=bucket, Key=keys.master_key(recorder.user, rec, recorder.uid, "audio", "wav")
    )
    return manifest, master


def test_every_acknowledged_chunk_is_stored_byte_exact(load: Load) -> None:
    client = s3_client(load.stack.cluster.endpoint)
    try:
        for recorder in load.recorders:
            rec = _recording_id(recorder)
            for seq, data in enumerate(recorder.chunks):
                assert seq in recorder.acked
                key = keys.chunk_key(recorder.user, rec, recorder.uid, "audio", seq, "wav")
                stored = client.get_object(Bucket=load.stack.bucket, Key=key)["Body"].read()
                assert stored == data, f"{recorder.uid} seq {seq} differs"
    finally:
        client.close()
    # The balancer met the dead and the restarting replica and sent those requests elsewhere.
    assert "connect() failed" in load.stack.proxy.error_log(), load.chaos


def test_exactly_one_recording_per_session(load: Load) -> None:
    client = s3_client(load.stack.cluster.endpoint)
    try:
        for recorder in load.recorders:
            prefix = keys.user_prefix(recorder.user)
            listed = client.list_objects_v2(Bucket=load.stack.bucket, Prefix=prefix)
            recordings = {o["Key"][len(prefix) :].split("/")[0] for o in listed.get("Contents", [])}
            assert recordings == {str(_recording_id(recorder))}, recorder.uid
    finally:
        client.close()


def test_every_session_finalizes_once_with_the_exact_master(load: Load) -> None:
    client = s3_client(load.stack.cluster.endpoint)
    try:
        for recorder in load.recorders:
            final = recorder.acked[len(recorder.chunks)]
            assert final["status"] == "completed", final
            manifest, master = _stored(client, load.stack.bucket, recorder)
            assert manifest["status"] == "completed"
            assert manifest["media"]["audio"]["missing_chunks"] == []
            assert master["Body"].read() == recorder.master
    finally:
        client.close()
    assert not re.search(r"session scale-\d+-\w+ idle for", load.stack.logs())


def test_a_url_signed_by_one_replica_plays_through_another(load: Load) -> None:
    target = load.stack
    user = new_user()
    with httpx.Client(timeout=30) as http:
        key = _api_key(http, target.url, user)
        chunks = wav_chunks(3, 0.5, seed=9)
        uid = f"signed-{user}"
        recording = _send_sync(http, target.replicas[0].url, uid, user, chunks)
        media_id = _media_id(http, target.replicas[0].url, recording, key)
        made_by_0 = http.get(
            f"{target.replicas[0].url}/recordings/{recording}/media/{media_id}/download",
            headers={"X-API-Key": key},
        ).json()["url"]
        assert made_by_0.startswith("/recordings/")  # direct, no proxy: a relative link
        expected = wav_master(chunks)
        for other in target.replicas[1:]:
            part = http.get(other.url + made_by_0, headers={"Range": "bytes=44-1043"})
            assert part.status_code == 206 and part.content == expected[44:1044]


def _api_key(http: httpx.Client, url: str, user: int) -> str:
    answer = http.post(f"{url}/admin/users/{user}/api-keys", headers={"X-Admin-API-Key": ADMIN})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def _send_sync(http: httpx.Client, url: str, uid: str, user: int, chunks: list[bytes]) -> int:
    """Chunks without a final one: the session stays open, as a crashed bot leaves it."""

    async def send() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            bot = VexaBot(client, uid, user)
            answers = [await bot.send(seq, data) for seq, data in enumerate(chunks)]
        assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
        return int(answers[0].json()["recording_id"])

    return asyncio.run(send())


def _media_id(http: httpx.Client, url: str, recording: int, key: str) -> int:
    found = http.get(f"{url}/recordings/{recording}", headers={"X-API-Key": key}).json()
    return int(found["media_files"][0]["id"])


def test_reconcilers_on_all_replicas_finalize_a_crashed_bot_once(load: Load) -> None:
    target = load.stack
    user = new_user()
    uid = f"crashed-{user}"
    chunks = wav_chunks(4, 0.5, seed=21)
    with httpx.Client(timeout=30) as http:
        recording = _send_sync(http, target.url, uid, user, chunks)  # through nginx: all replicas
        key = _api_key(http, target.url, user)
        deadline = time.monotonic() + IDLE_SECONDS + 30
        status = ""
        while time.monotonic() < deadline and status != "completed":
            time.sleep(0.5)
            status = http.get(
                f"{target.url}/recordings/{recording}", headers={"X-API-Key": key}
            ).json()["status"]
        assert status == "completed"
        time.sleep(4)  # every replica's reconciler has had several more turns
    finalizing = re.findall(rf"session {uid} idle for", target.logs())
    assert len(finalizing) == 1, finalizing
    # and the earlier sessions were not finalized again meanwhile
    client = s3_client(target.cluster.endpoint)
    try:
        for recorder in load.recorders:
            manifest, master = _stored(client, target.bucket, recorder)
            assert (
                manifest["media"]["audio"]["finalized_at"]
                == (load.manifests[recorder.uid]["media"]["audio"]["finalized_at"])
            )
            assert master["LastModified"] == load.master_modified[recorder.uid]
    finally:
        client.close()


PLAYER = """<!doctype html><audio id="a" preload="metadata"></audio><script>
const a = document.getElementById("a"); window.seen = [];
for (const n of ["loadedmetadata", "seeked", "error"])
  a.addEventListener(n, () => window.seen.push(n));
a.src = %s;
</script>"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_chromium_plays_and_seeks_through_nginx(load: Load) -> None:
    from playwright.sync_api import sync_playwright

    target = load.stack
    user = new_user()
    with httpx.Client(timeout=30) as http:
        recording = _send_sync(
            http, target.url, f"browser-{user}", user, wav_chunks(4, 1.0, seed=5)
        )
        key = _api_key(http, target.url, user)
        media_id = _media_id(http, target.url, recording, key)
        link = http.get(
            f"{target.url}/recordings/{recording}/media/{media_id}/download",
            headers={"X-API-Key": key},
        ).json()["url"]
    assert link.startswith(f"{target.url}/recordings/{recording}/media/{media_id}/raw?")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_page()
            statuses: list[int] = []
            page.on("response", lambda r: statuses.append(r.status) if "/raw?" in r.url else None)
            page.set_content(PLAYER % json.dumps(link))
            page.wait_for_function("window.seen.length > 0", timeout=20_000)
            assert page.evaluate("window.seen") == ["loadedmetadata"]
            assert abs(page.evaluate("document.getElementById('a').duration") - 4.0) < 0.05
            page.evaluate("document.getElementById('a').currentTime = 3")
            page.wait_for_function(
                "window.seen.includes('seeked') || window.seen.includes('error')", timeout=20_000
            )
            page.evaluate("document.getElementById('a').play()")
            page.wait_for_function("document.getElementById('a').currentTime > 3.3", timeout=20_000)
            assert "error" not in page.evaluate("window.seen")
        finally:
            browser.close()
    assert statuses and set(statuses) == {206}, statuses


@botkit.requires_node
def test_vexa_bot_code_records_through_nginx(cluster: Stack, tmp_path: Path) -> None:
    """Vexa's own recording upload code (tests/vexa) sends a Zoom WAV session through nginx, with
    the scoped upload token of a recording made through nginx; any replica takes each chunk."""
    botkit.ensure_bundle()
    target = cluster
    user = new_user()
    with httpx.Client(base_url=target.url, timeout=30) as http:
        key = {"X-API-Key": _api_key(http, target.url, user)}
        made = http.post("/recordings", json={}, headers=key).json()
        audio = pcm(16000 * 3 + 500)  # three whole 1 s chunks and a tail
        source = tmp_path / "bot.pcm"
        source.write_bytes(audio)
        run = botkit.run_bot(
            {
                "bot": "head-zoom",
                "upload_url": f"{target.url}/internal/recordings/upload",
                "token": made["upload_token"],
                "meeting_id": 12,
                "session_uid": made["session_uid"],
                "pcm": str(source),
                "pcm_bytes": len(audio),
                "chunk_seconds": 1,
            },
            tmp_path,
        )
        assert run.uploaded == [0, 1, 2, 3] and run.lost == []
        found = http.get(f"/recordings/{made['id']}", headers=key).json()
        assert found["status"] == "completed", found
        media_id = found["media_files"][0]["id"]
        master = http.get(f"/recordings/{made['id']}/media/{media_id}/raw", headers=key).content
    assert master[44:] == audio
