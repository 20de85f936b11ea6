"""The console in a real browser (Debian's Chromium) against the real server, on local storage
and on SeaweedFS: sign in, upload with progress, play, seek on the waveform, copy a link that
plays without the key, delete; a live recording; small screens and the keyboard; /docs.

Every page load records the URLs the browser asked for (the API key must be in none of them) and
the console's errors (there must be none). Screenshots go to tests/output/console/ (printed).
"""

from __future__ import annotations

import math
import random
import re
import struct
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import mediafiles
from tests.browserkit import launch_chromium, output_dir, requires_chromium, wait_until
from tests.playkit import BACKENDS, Deployment, Upload, deploy, wav_upload

pytestmark = [requires_chromium, pytest.mark.slow]

RATE = 16000
UPLOAD_BYTES = 20 * 1000 * 1000
UPLOAD_THROUGHPUT = 8 * 1024 * 1024  # bytes/s: the upload takes seconds, so progress is seen
MEDIA = "document.querySelector('.media-element')"


def speech_like_wav(path: Path, size: int) -> float:
    """A mono 16-bit WAV of about `size` bytes whose loudness changes every few seconds (so its
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
    rng = random.Random(7)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        written = 0
        while written < count:  # "speaker turns" of 3 to 20 s, each at one loudness
            turn = min(rng.randint(6, 40), count - written)
            out.writeframes(rng.choice(blocks) * turn)
            written += turn
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
    workdir = tmp_path_factory.mktemp(f"console-{request.param}")
    with deploy(request.param, workdir, request) as deployment:
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
        page.on("console", self.on_console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

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
    page.fill("#upload-meeting", "weekly-sync")
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
    row = page.wait_for_selector(f'li[data-id="{recording_id}"]')
    assert "Meeting weekly-sync" in row.inner_text()

    duration = console.open_recording(recording_id)
    assert abs(duration - seconds) < 0.1, (duration, seconds)
    page.click(".play")
    wait_until(page, f"{MEDIA}.currentTime > 0.3")
    page.click(".play")
    assert page.evaluate(f"{MEDIA}.paused")

    page.wait_for_selector('.wave[data-waveform="peaks"]', timeout=60_000)
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
    console.screenshot("list-live")
    for seq in (3, 4):
        site.put_chunk(uid, seq, upload.chunks[seq], upload.content_type)
    site.put_chunk(uid, 5, upload.chunks[5], upload.content_type, final=True)
    wait_until(page, f"document.querySelector('{row}').dataset.status === 'completed'", timeout=20)
    console.screenshot("list")
    console.check_clean()


def overflow(page: Any) -> int:
    """Pixels the page is wider than its viewport (0: nothing scrolls sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_small_screen_keyboard_and_speed(browser: Any, site: Deployment) -> None:
    media = site.add("keys", wav_upload(12, 2, seed=5))
    console = Console(browser, site, width=360, height=740)
    try:
        page = console.page
        console.sign_in()
        assert overflow(page) <= 0
        duration = console.open_recording(media.recording_id)
        assert overflow(page) <= 0
        console.screenshot("player-360px")

        page.focus(".play")
        page.keyboard.press("Tab")  # from the play button to the waveform, by keyboard
        assert page.evaluate("document.activeElement.classList.contains('wave')")
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.keyboard.press("ArrowRight")
        wait_until(page, f"Math.abs({MEDIA}.currentTime - 5) < 0.01")
        page.keyboard.press("End")
        wait_until(page, f"Math.abs({MEDIA}.currentTime - {duration}) < 0.01")
        page.keyboard.press("Home")
        wait_until(page, f"{MEDIA}.currentTime === 0")
        page.keyboard.press("Space")
        wait_until(page, f"!{MEDIA}.paused && {MEDIA}.currentTime > 0.2")
        page.keyboard.press("Space")
        wait_until(page, f"{MEDIA}.paused")
        page.select_option(".speed select", "1.5")
        assert page.evaluate(f"{MEDIA}.playbackRate") == 1.5
        assert page.get_attribute(".wave", "aria-valuetext")
        console.check_clean()
    finally:
        console.close()


def test_docs_page_renders_the_document(console: Console, site: Deployment) -> None:
    page = console.page
    page.goto(site.url + "/docs")
    page.wait_for_selector(".opblock-summary")
    operations = page.locator(".opblock-summary").count()
    assert operations >= 20, operations
    assert page.locator(".info .title").inner_text().startswith("Vexa Lite")
    console.check_clean()


@pytest.fixture(scope="module")
def small_limit_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Local storage that accepts uploads of at most 1 MB."""
    workdir = tmp_path_factory.mktemp("console-limit")
    with deploy("local", workdir, LITE_MAX_CHUNK_BYTES="1000000") as deployment:
        yield deployment


def test_upload_errors_are_explained_and_leave_nothing(
    browser: Any, small_limit_site: Deployment, tmp_path: Path
) -> None:
    site = small_limit_site
    console = Console(browser, site)
    try:
        page = console.page
        console.sign_in()
        text = tmp_path / "notes.txt"
        text.write_text("not a recording")
        page.set_input_files("#upload-file", str(text))
        assert "not an audio or video file" in page.text_content("#upload-status")
        big = tmp_path / "big.wav"
        speech_like_wav(big, 2_000_000)
        page.set_input_files("#upload-file", str(big))
        status = wait_until(
            page,
            "(() => { const t = document.getElementById('upload-status').textContent;"
            " return /failed/.test(t) && t; })()",
        )
        assert "larger than the server accepts" in status, status
        # The recording made for the upload is removed again: the list ends empty.
        deadline = time.monotonic() + 10
        while site.http.get("/recordings", headers=site.auth()).json()["recordings"]:
            assert time.monotonic() < deadline, "the failed upload's recording stayed"
            time.sleep(0.1)
        assert all("413" in e for e in console.errors), console.errors  # the PUT's 413 only
        console.errors.clear()
        console.check_clean()
    finally:
        console.close()


def test_drop_a_file_to_upload(console: Console, site: Deployment) -> None:
    upload = wav_upload(3, 1, seed=9)
    page = console.page
    console.sign_in()
    page.evaluate(
        """bytes => {
          const data = new DataTransfer();
          data.items.add(new File([new Uint8Array(bytes)], 'dropped.wav', { type: 'audio/wav' }));
          const form = document.getElementById('upload');
          const init = { dataTransfer: data, bubbles: true, cancelable: true };
          form.dispatchEvent(new DragEvent('dragover', init));
          form.dispatchEvent(new DragEvent('drop', init));
        }""",
        list(upload.expected),
    )
    status = wait_until(
        page,
        "(() => { const t = document.getElementById('upload-status').textContent;"
        " return /Uploaded|failed/.test(t) && t; })()",
    )
    assert "Uploaded dropped.wav" in status, status
    recording_id = int(re.search(r"recording (\d+)", status).group(1))  # type: ignore[union-attr]
    page.wait_for_selector(f'li[data-id="{recording_id}"][data-status="completed"]')
    stored = site.recording(
        site.http.get(f"/recordings/{recording_id}", headers=site.auth()).json()["session_uid"]
    )
    assert stored["media_files"][0]["file_size_bytes"] == len(upload.expected)
    console.check_clean()


PEAKS_PATH = "/recordings/{recording_id}/media/{media_id}/peaks"
COLUMN_HEIGHTS = """() => {
  const canvas = document.querySelector('.wave canvas');
  const { width, height } = canvas;
  const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const heights = [];
  for (let x = 0; x < width; x += 1) {
    let filled = 0;
    for (let y = 0; y < height; y += 1) if (pixels[4 * (y * width + x) + 3] > 0) filled += 1;
    heights.push(filled / height);
  }
  return heights;
}"""


def test_waveform_draws_the_peaks(console: Console, site: Deployment) -> None:
    """Loud first half, quiet second half: the drawn columns say the same."""
    frames = b"".join(
        struct.pack("<h", int((20000 if i < RATE * 4 else 600) * math.sin(i / 3)))
        for i in range(RATE * 8)
    )
    wav = mediafiles.wav_from_pcm(frames, RATE, 1, 2)
    media = site.add("peaks", Upload([wav], "audio/wav", wav, 8))
    assert PEAKS_PATH in site.http.get("/openapi.json").json()["paths"]
    console.sign_in()
    console.open_recording(media.recording_id)
    page = console.page
    page.wait_for_selector('.wave[data-waveform="peaks"]', timeout=30_000)
    heights = wait_until(
        page,
        f"(() => {{ const h = ({COLUMN_HEIGHTS})(); return h.some(v => v > 0.5) && h; }})()",
    )
    # The middle of each half (not the play head at 0); bars have a gap column between them.
    width = len(heights)
    loud = heights[width // 10 : 4 * width // 10]
    quiet = heights[6 * width // 10 : 9 * width // 10]
    assert sum(loud) / len(loud) > 0.3, loud
    assert max(quiet) < 0.1, quiet
    console.screenshot("waveform")
    console.check_clean()
