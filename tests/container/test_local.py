"""Local storage in the image: without a volume the warning is printed and true; with one,
recordings survive the container (issue 5, tests 1 and 2)."""

from __future__ import annotations

import httpx

from tests.container import api
from tests.container.podman import ROOT, Pod
from tests.mediafiles import make_wav

FIX = "-v vexa-recordings:/var/lib/vexa/recordings"


def test_no_volume_warns_and_the_warning_is_true(pod: Pod) -> None:
    first = pod.start()
    first.wait_healthy()
    log = first.logs()
    assert "storage: local (" in log
    assert "is NOT on a mounted volume" in log
    assert FIX in log
    key = api.create_key(first.url, 1)
    stored = api.store_recording(first.url, key, 1, make_wav(1.0))
    assert stored.recording_id in api.listed_ids(first.url, key)

    pod.remove(first)
    second = pod.start()
    second.wait_healthy()
    # Everything was in the removed container's layer: the key and the recording are gone.
    gone = httpx.get(second.url + "/recordings", headers={"X-API-Key": key}, timeout=30)
    assert gone.status_code == 401
    assert api.listed_ids(second.url, api.create_key(second.url, 1)) == []


def test_named_volume_keeps_recordings(pod: Pod) -> None:
    """With config/local.env as shipped (it sets LITE_REQUIRE_VOLUME=true)."""
    volume = pod.volume()
    wav = make_wav(2.0, seed=3)
    env_file = f"--env-file={ROOT / 'config' / 'local.env'}"
    first = pod.start({}, volume, env_file)
    first.wait_healthy()
    log = first.logs()
    assert "volume: /var/lib/vexa/recordings is on a mounted volume" in log
    assert "WARNING" not in log
    key = api.create_key(first.url, 7)
    stored = api.store_recording(first.url, key, 7, wav)

    pod.remove(first)
    second = pod.start({}, volume, env_file)
    second.wait_healthy()
    assert stored.recording_id in api.listed_ids(second.url, key)
    part = api.raw(second.url, key, stored, "bytes=100-199")
    assert part.status_code == 206
    assert part.headers["content-range"].startswith("bytes 100-199/")
    assert part.content == api.raw(second.url, key, stored).content[100:200]
