"""Media types: extensions, Content-Type both ways, filenames for Content-Disposition, duration.

Pure except `probe_duration`, which runs ffprobe when it is installed.
"""

from __future__ import annotations

import asyncio
import functools
import math
import shutil
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

EXTENSIONS = ("wav", "webm", "ogg", "opus", "mp3", "m4a", "mp4")

_AUDIO_TYPES = {
    "wav": "audio/wav",
    "webm": "audio/webm",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",  # Ogg Opus: RFC 7845 registers audio/ogg, not audio/opus, for files
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
}
_VIDEO_TYPES = {"webm": "video/webm", "mp4": "video/mp4"}

# What recorders and browsers actually send, mapped to our closed list of extensions.
_EXT_BY_TYPE = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/x-pn-wav": "wav",
    "audio/webm": "webm",
    "video/webm": "webm",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "video/ogg": "ogg",
    "audio/opus": "opus",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg-3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "video/mp4": "mp4",
}

# Formats whose chunks join into one playable file: WAV (headers stripped, one rewritten) and
# WebM from a MediaRecorder (continuation clusters after the first chunk's EBML header).
_CONCATENABLE = frozenset({"wav", "webm"})
EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def content_type(ext: str, media_type: str) -> str:
    """The Content-Type to serve a file with; video only changes containers that carry video."""
    if ext not in _AUDIO_TYPES:
        raise ValueError(f"unknown media extension {ext!r}; allowed: {', '.join(EXTENSIONS)}")
    if media_type == "video" and ext in _VIDEO_TYPES:
        return _VIDEO_TYPES[ext]
    return _AUDIO_TYPES[ext]


def ext_from_content_type(content_type: str | None) -> str | None:
    """Our extension for an upload's Content-Type (parameters ignored), or None when unknown."""
    if not content_type:
        return None
    essence = content_type.split(";", 1)[0].strip().lower()
    return _EXT_BY_TYPE.get(essence)


def is_concatenable(ext: str) -> bool:
    return ext in _CONCATENABLE


def has_ebml_header(head: bytes) -> bool:
    """True when the bytes start a Matroska/WebM file (a first chunk, not a continuation)."""
    return head[:4] == EBML_MAGIC


# --- Content-Disposition (RFC 6266, RFC 8187) -----------------------------------------------------

_ATTR_CHARS = "!#$&+-.^_`|~"  # RFC 8187 attr-char besides ALPHA / DIGIT
_FALLBACK_NAME = "recording"


def _strip_controls(name: str) -> str:
    # Control characters (CR/LF above all) would split the header; path separators are dropped
    # by browsers anyway and only confuse a saved name.
    kept = (ch for ch in name if unicodedata.category(ch) != "Cc")
    return "".join("_" if ch in "/\\" else ch for ch in kept).strip()


def safe_filename(name: str) -> tuple[str, str]:
    """(ASCII fallback for `filename="…"`, percent-encoded UTF-8 for `filename*=UTF-8''…`)."""
    clean = _strip_controls(name) or _FALLBACK_NAME
    ascii_chars = []
    for ch in unicodedata.normalize("NFKD", clean):
        if unicodedata.combining(ch):
            continue  # "é" decomposes to "e" + accent: keep the letter
        ascii_chars.append(ch if ch.isascii() and ch not in '"\\' else "_")
    fallback = "".join(ascii_chars).strip() or _FALLBACK_NAME
    return fallback, quote(clean, safe=_ATTR_CHARS, encoding="utf-8")


@functools.lru_cache(maxsize=4096)
def content_disposition(name: str, attachment: bool) -> str:
    """`inline` plays in the browser; `attachment` (`?download=1`) saves the file."""
    fallback, encoded = safe_filename(name)
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


# --- duration -------------------------------------------------------------------------------------

_FORMAT_DURATION = ("-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1")
_PACKET_TIMES = ("-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0")


# The timeout is a parameter (not left to the caller's asyncio.timeout) because the function owns
# the ffprobe processes it starts and answers None instead of raising.
async def probe_duration(url_or_path: str, timeout: float = 30) -> float | None:  # noqa: ASYNC109
    """Seconds of media according to ffprobe; None without ffprobe, on failure or after `timeout`.

    WebM from a MediaRecorder has no duration in its header (ffprobe says N/A), so then the end of
    the last packet is used; that reads the whole file, hence the shared timeout.
    """
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    # "file:" keeps a local path from being read as an option or another ffmpeg protocol.
    target = url_or_path if "://" in url_or_path else "file:" + url_or_path
    header: list[float] = []
    packet_end = [0.0]

    def on_format(line: bytes) -> None:
        value = _seconds(line)
        if value is not None:
            header.append(value)

    def on_packet(line: bytes) -> None:
        pts, _, rest = line.partition(b",")
        start, length = _seconds(pts), _seconds(rest.partition(b",")[0])
        if start is not None:
            packet_end[0] = max(packet_end[0], start + (length or 0.0))

    try:
        async with asyncio.timeout(timeout):
            if not await _ffprobe(ffprobe, _FORMAT_DURATION, target, on_format):
                return None
            if header and header[0] > 0:
                return header[0]
            if not await _ffprobe(ffprobe, _PACKET_TIMES, target, on_packet):
                return None
    except TimeoutError:
        return None
    return packet_end[0] if packet_end[0] > 0 else None


def _seconds(text: bytes) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None  # "N/A", blank lines, trailing separators
    return value if math.isfinite(value) and value >= 0 else None


async def _ffprobe(
    ffprobe: str, args: tuple[str, ...], target: str, on_line: Callable[[bytes], None]
) -> bool:
    """Feed ffprobe's stdout to `on_line` line by line (bounded memory); True when it exits 0.

    On cancellation (the caller's timeout) the process is killed and reaped, never left behind.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            ffprobe,
            *args,
            "-i",
            target,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        assert proc.stdout is not None
        async for line in proc.stdout:
            on_line(line)
        return await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()  # drain stdout too, so the pipe transport closes
