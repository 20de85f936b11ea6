"""A real browser plays and seeks: headless Chromium (Debian's) driven by Playwright.

The page is served from another origin (a stdlib server on 127.0.0.1), as a player would be, and
puts the URL `/download` hands out into `<audio preload="metadata" src=…>`: a signed `/raw` URL on
local storage, a presigned SeaweedFS URL (host `localhost`, the public endpoint) on S3.

What Chromium (Debian's, headless) does with WebM duration: a WebM with a duration and cues
reports it (20.008 s for 20 s of Opus). A MediaRecorder's WebM (no duration, no cues) would load
with `duration` = Infinity; finalize writes masters with both (tests/test_webm_master.py), so
every WebM served here reports its duration. Seeks fetch the needed bytes by range (the 206s
are counted).
Every case also plays 0.3 s from the seek point, so a seek that only moved the clock would fail.
"""

from __future__ import annotations

import http.server
import math
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.browserkit import launch_chromium, requires_chromium
from tests.playkit import BACKENDS, Deployment, Media, deploy, wav_upload, webm_upload

EVENT_TIMEOUT_MS = 20_000

pytestmark = requires_chromium

PLAYER_PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>player</title>
<audio id="player" preload="metadata"></audio>
<script>
  const audio = document.getElementById("player");
  window.events = [];
  for (const name of ["loadedmetadata", "durationchange", "seeking", "seeked", "error"]) {
    audio.addEventListener(name, () => window.events.push({
      name, duration: String(audio.duration), time: audio.currentTime,
      error: audio.error ? audio.error.code + " " + audio.error.message : null,
    }));
  }
  audio.src = new URLSearchParams(location.search).get("src");
</script>
"""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PLAYER_PAGE)))
        self.end_headers()
        self.wfile.write(PLAYER_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"browser-{request.param}")
    with deploy(request.param, workdir, request) as deployment:
        deployment.add("wav", wav_upload(20, 4))
        deployment.add("webm", webm_upload(20, 5))
        deployment.add("recorder", webm_upload(20, 5, seekable=False))
        yield deployment


class Player:
    """One page with the audio element, and every response status the page saw."""

    def __init__(self, browser: Any, origin: str, src: str) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.statuses: list[tuple[int, str]] = []
        self.page.on("response", lambda r: self.statuses.append((r.status, r.url)))
        self.page.goto(f"{origin}/player.html?src={quote(src, safe='')}")

    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("window.events")
        return found

    def wait_for(self, name: str) -> dict[str, Any]:
        """The first `name` event, failing at once on an `error` event."""
        self.page.wait_for_function(
            "n => window.events.some(e => e.name === n || e.name === 'error')",
            arg=name,
            timeout=EVENT_TIMEOUT_MS,
        )
        events = self.events()
        errors = [e for e in events if e["name"] == "error"]
        assert not errors, f"media error: {errors}"
        return next(e for e in events if e["name"] == name)

    def duration(self) -> float:
        return float(self.page.evaluate("String(document.getElementById('player').duration)"))

    def seek(self, seconds: float) -> dict[str, Any]:
        self.page.evaluate(
            "t => { window.events = []; document.getElementById('player').currentTime = t; }",
            seconds,
        )
        return self.wait_for("seeked")

    def plays_on_from(self, seconds: float) -> float:
        """Play from the current position until the clock passes `seconds` + 0.3: the media
        really decodes there. Returns the position reached."""
        self.page.evaluate("document.getElementById('player').play()")
        self.page.wait_for_function(
            "t => document.getElementById('player').currentTime > t || window.events.some("
            "e => e.name === 'error')",
            arg=seconds + 0.3,
            timeout=EVENT_TIMEOUT_MS,
        )
        reached: float = self.page.evaluate(
            "(() => { const a = document.getElementById('player'); a.pause(); "
            "return a.error ? -1 : a.currentTime; })()"
        )
        return reached

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def player_for(browser: Any, page_origin: str) -> Iterator[Any]:
    opened: list[Player] = []

    def open_player(src: str) -> Player:
        player = Player(browser, page_origin, src)
        opened.append(player)
        return player

    yield open_player
    for player in opened:
        player.close()


def media_statuses(player: Player, src: str) -> list[int]:
    """Statuses of the responses for the media (not the page) that the browser received."""
    media_url = src.split("?", 1)[0]
    return [status for status, url in player.statuses if url.split("?", 1)[0] == media_url]


def play_and_seek(player_for: Any, site: Deployment, media: Media) -> tuple[float, Player]:
    before = site.metric(206)
    src = site.playable_url(media)
    if site.backend == "local":
        assert src.startswith(site.url + media.raw_path + "?") and "sig=" in src
    else:
        assert src.startswith(site.public_endpoint + "/"), src  # presigned, public host
    player = player_for(src)
    player.wait_for("loadedmetadata")
    duration = player.duration()
    # Infinity (a WebM without a duration): the duration the API measured at finalize.
    known = duration if math.isfinite(duration) else media.api_duration
    assert known is not None
    target = 0.75 * known
    seeked = player.seek(target)
    assert abs(seeked["time"] - target) < 0.5, seeked
    reached = player.plays_on_from(seeked["time"])
    assert seeked["time"] + 0.3 < reached < seeked["time"] + 5, reached
    statuses = media_statuses(player, src)
    assert statuses and all(s in (200, 206) for s in statuses), player.statuses
    assert 206 in statuses, statuses
    if site.backend == "local":
        assert site.metric(206) - before >= 1  # the app itself answered ranges
    return duration, player


@pytest.mark.parametrize("kind", ["wav", "webm"])
def test_audio_element_loads_and_seeks(player_for: Any, site: Deployment, kind: str) -> None:
    media = site.media[kind]
    duration, _ = play_and_seek(player_for, site, media)
    assert abs(duration - media.duration) <= 0.1, duration


def test_webm_like_a_media_recorder(player_for: Any, site: Deployment) -> None:
    """No duration and no cues in the upload, cut into byte slices as a MediaRecorder's timeslice
    cuts it: the master finalize writes has both, so Chromium knows the duration at once."""
    media = site.media["recorder"]
    assert media.api_duration is not None and abs(media.api_duration - media.duration) < 0.1
    duration, _ = play_and_seek(player_for, site, media)
    assert abs(duration - media.duration) <= 0.1, duration
