"""The console in a real browser (Debian's Chromium) against the real server, on local storage
and on SeaweedFS: sign in, upload with progress, play, seek on the waveform, copy a link that
plays without the key, delete; a live recording; small screens and the keyboard; /docs.

Every page load records the URLs the browser asked for (the API key must be in none of them) and
the console's errors (there must be none). Screenshots go to tests/output/console/ (printed).
"""

from __future__ import annotations

import math
import re
import struct
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browserkit import launch_chromium, output_dir, requires_chromium, wait_until
from tests.playkit import BACKENDS, Deployment, deploy, wav_upload

pytestmark = [requires_chromium, pytest.mark.slow]

RATE = 16000
UPLOAD_BYTES = 20 * 1000 * 1000
UPLOAD_THROUGHPUT = 8 * 1024 * 1024  # bytes/s: the upload takes seconds, so progress is seen
MEDIA = "document.querySelector('.media-element')"


def speech_like_wav(path: Path, size: int) -> float:
    """A mono 16-bit WAV of about `size` bytes whose loudness changes every 0.5 s (so its
    waveform has a shape); returns its duration."""
    half = RATE // 2
    levels = [0.05, 0.2, 0.6, 0.9, 0.35, 0.0, 0.75, 0.5]
    blocks = [
        struct.pack(
            f"<{half}h",
            *(
                int(
                    level
                    * 20000
                    * math.sin(2 * math.pi * 220 * i / RATE)
                    * math.sin(math.pi * i / half)
                )
                for i in range(half)
            ),
        )
        for level in levels
    ]
    count = size // len(blocks[0])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for n in range(count):
            out.writeframes(blocks[(n * 5 + n // 3) % len(blocks)])
    return count * half / RATE


@pytest.fixture(scope="module")
def big_wav(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    path = tmp_path_factory.mktemp("console-media") / "meeting.wav"
    seconds = speech_like_wav(path, UPLOAD_BYTES)
    assert path.stat().st_size >= UPLOAD_BYTES
    return path, seconds


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    seaweed = request.getfixturevalue("seaweed") if request.param == "seaweedfs" else None
    workdir = tmp_path_factory.mktemp(f"console-{request.param}")
    with deploy(request.param, workdir, seaweed) as deployment:
        yield deployment


class Console:
    """One browser context on the console: what it requested, what it logged."""

    def __init__(self, browser: Any, site: Deployment, width: int = 1100, height: int = 800):
        self.site = site
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.page = self.open_page()

    def open_page(self) -> Any:
        page = self.context.new_page()
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def sign_in(self) -> None:
        self.page.goto(self.site.url + "/")
        self.page.fill("#api-key", self.site.key)
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("#library:not([hidden])")

    def open_recording(self, recording_id: int) -> float:
        """Open a recording from the list; the media element's duration once it has loaded."""
        self.page.click(f'li[data-id="{recording_id}"] a')
        self.page.wait_for_selector(".media-card")
        wait_until(self.page, f"{MEDIA}.readyState >= 1")
        return float(self.page.evaluate(f"{MEDIA}.duration"))

    def current_time(self) -> float:
        return float(self.page.evaluate(f"{MEDIA}.currentTime"))

    def screenshot(self, name: str) -> Path:
        path = output_dir("console") / f"{name}-{self.site.backend}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def check_clean(self) -> None:
        assert not self.errors, f"console errors: {self.errors}"
        assert self.urls, "no requests were recorded"
        leaked = [url for url in self.urls if self.site.key in url]
        assert not leaked, f"the API key is in a URL: {leaked}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def console(browser: Any, site: Deployment) -> Iterator[Console]:
    opened = Console(browser, site)
    yield opened
    opened.close()


def watch_progress(page: Any) -> None:
    page.evaluate(
        """() => {
          const bar = document.getElementById('upload-progress');
          window.progressSeen = [];
          new MutationObserver(() => window.progressSeen.push(Number(bar.value)))
            .observe(bar, { attributes: true, attributeFilter: ['value'] });
        }"""
    )


def test_upload_play_seek_copy_link_delete(
    console: Console, site: Deployment, big_wav: tuple[Path, float]
) -> None:
    path, seconds = big_wav
    page = console.page
    console.sign_in()
    cdp = console.context.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": UPLOAD_THROUGHPUT,
        },
    )
    watch_progress(page)
    page.set_input_files("#upload-file", str(path))
    status = wait_until(
        page,
        "(() => { const t = document.getElementById('upload-status').textContent;"
        " return /Uploaded|failed/.test(t) && t; })()",
        timeout=60,
    )
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    seen = page.evaluate("window.progressSeen")
    assert "Uploaded" in status, status
    assert any(50 < value < 100 for value in seen), seen
    assert seen[-1] == 100, seen
    recording_id = int(re.search(r"recording (\d+)", status).group(1))  # type: ignore[union-attr]
    page.wait_for_selector(f'li[data-id="{recording_id}"]')

    duration = console.open_recording(recording_id)
    assert abs(duration - seconds) < 0.1, (duration, seconds)
    page.click(".play")
    wait_until(page, f"{MEDIA}.currentTime > 0.3")
    page.click(".play")
    assert page.evaluate(f"{MEDIA}.paused")

    box = page.locator(".wave").bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + box["height"] / 2)
    wait_until(page, f"!{MEDIA}.seeking && Math.abs({MEDIA}.currentTime - {0.75 * duration}) < 1")
    assert abs(console.current_time() - 0.75 * duration) < 1
    console.screenshot("player")

    console.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page.click(".copy")
    page.wait_for_selector("input.link:not([hidden])")
    link = page.input_value("input.link")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert link.startswith("http") and site.key not in link
    plays_without_key(console, link)

    page.click("#delete")
    page.click("#confirm-delete")
    page.wait_for_selector("#library:not([hidden])")
    wait_until(page, f"!document.querySelector('li[data-id=\"{recording_id}\"]')")
    gone = site.http.get(f"/recordings/{recording_id}", headers=site.auth())
    assert gone.status_code == 404
    console.check_clean()


def plays_without_key(console: Console, link: str) -> None:
    """A new page, in a context of its own (no session storage, no key), plays the link."""
    other = console.context.browser.new_context()
    try:
        page = other.new_page()
        page.on("request", lambda r: console.urls.append(r.url))
        page.goto(link)
        page.wait_for_selector("video, audio")
        page.evaluate("document.querySelector('video, audio').play()")
        wait_until(page, "document.querySelector('video, audio').currentTime > 0.3")
    finally:
        other.close()


def test_live_recording_says_live_and_grows(console: Console, site: Deployment) -> None:
    site.add("finished", wav_upload(6, 2))
    upload = wav_upload(12, 6, seed=3)
    uid = f"live-{uuid.uuid4().hex[:10]}"
    for seq in (0, 1):
        site.put_chunk(uid, seq, upload.chunks[seq], upload.content_type)
    recording_id = site.recording(uid)["id"]
    page = console.page
    console.sign_in()
    row = f'li[data-id="{recording_id}"]'
    assert (
        page.inner_text(f"{row} .badge") == "LIVE" or page.text_content(f"{row} .badge") == "live"
    )

    first = console.open_recording(recording_id)
    assert page.text_content("#detail-status") == "live"
    assert page.is_visible(".media-card .badge.live")
    assert abs(first - 4) < 0.1, first
    site.put_chunk(uid, 2, upload.chunks[2], upload.content_type)
    wait_until(page, f"{MEDIA}.duration > {first + 1}", timeout=20)
    assert "live" in page.text_content(".clock")

    page.click("#back")
    page.wait_for_selector(row)
    for seq in (3, 4):
        site.put_chunk(uid, seq, upload.chunks[seq], upload.content_type)
    site.put_chunk(uid, 5, upload.chunks[5], upload.content_type, final=True)
    wait_until(page, f"document.querySelector('{row}').dataset.status === 'completed'", timeout=20)
    console.screenshot("list")
    console.check_clean()
