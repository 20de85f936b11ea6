"""lite.media: content types, Content-Disposition filenames, ffprobe durations."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from lite.media import (
    EXTENSIONS,
    content_disposition,
    content_type,
    ext_from_content_type,
    has_ebml_header,
    is_concatenable,
    probe_duration,
    safe_filename,
)
from tests.mediafiles import make_wav, make_webm, requires_ffmpeg, requires_ffprobe

# --- content types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "media_type", "expected"),
    [
        ("wav", "audio", "audio/wav"),
        ("wav", "video", "audio/wav"),
        ("webm", "audio", "audio/webm"),
        ("webm", "video", "video/webm"),
        ("ogg", "audio", "audio/ogg"),
        ("opus", "audio", "audio/ogg"),
        ("mp3", "audio", "audio/mpeg"),
        ("m4a", "audio", "audio/mp4"),
        ("m4a", "video", "audio/mp4"),
        ("mp4", "audio", "audio/mp4"),
        ("mp4", "video", "video/mp4"),
        ("webm", "screen", "audio/webm"),
    ],
)
def test_content_type(ext: str, media_type: str, expected: str) -> None:
    assert content_type(ext, media_type) == expected


@pytest.mark.parametrize("ext", ["exe", "", "WAV", "../wav"])
def test_content_type_rejects_unknown_extension(ext: str) -> None:
    with pytest.raises(ValueError, match="unknown media extension"):
        content_type(ext, "audio")


def test_every_extension_has_a_content_type_that_maps_back_to_a_known_extension() -> None:
    for ext in EXTENSIONS:
        for media_type in ("audio", "video"):
            assert ext_from_content_type(content_type(ext, media_type)) in EXTENSIONS


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("audio/wav", "wav"),
        ("audio/x-wav", "wav"),
        ("audio/wave", "wav"),
        ("audio/vnd.wave", "wav"),
        ("Audio/WAV", "wav"),
        ("audio/webm", "webm"),
        ("audio/webm;codecs=opus", "webm"),
        ('audio/webm; codecs="opus"', "webm"),
        ("video/webm;codecs=vp8,opus", "webm"),
        ("audio/ogg; codecs=opus", "ogg"),
        ("application/ogg", "ogg"),
        ("audio/opus", "opus"),
        ("audio/mpeg", "mp3"),
        ("audio/mp3", "mp3"),
        ("audio/mp4", "m4a"),
        ("audio/x-m4a", "m4a"),
        ("video/mp4", "mp4"),
        ("  audio/wav  ", "wav"),
        ("application/octet-stream", None),
        ("text/plain", None),
        ("audio/", None),
        ("", None),
        (None, None),
    ],
)
def test_ext_from_content_type(header: str | None, expected: str | None) -> None:
    assert ext_from_content_type(header) == expected


@pytest.mark.parametrize(("ext", "expected"), [(e, e in ("wav", "webm")) for e in EXTENSIONS])
def test_is_concatenable(ext: str, expected: bool) -> None:
    assert is_concatenable(ext) is expected


def test_has_ebml_header() -> None:
    assert has_ebml_header(b"\x1a\x45\xdf\xa3\x01\x00")
    assert has_ebml_header(b"\x1a\x45\xdf\xa3")
    assert not has_ebml_header(b"\x1a\x45\xdf")
    assert not has_ebml_header(b"")
    assert not has_ebml_header(make_wav(0.1))
    assert not has_ebml_header(b"\x1f\x43\xb6\x75" + b"\0" * 20)  # a continuation Cluster


@requires_ffmpeg
def test_ffmpeg_webm_has_ebml_header() -> None:
    assert has_ebml_header(make_webm(0.5))


# --- Content-Disposition --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fallback", "encoded"),
    [
        ("abc123.wav", "abc123.wav", "abc123.wav"),
        ("Réunion été.wav", "Reunion ete.wav", "R%C3%A9union%20%C3%A9t%C3%A9.wav"),
        ("会議.webm", "__.webm", "%E4%BC%9A%E8%AD%B0.webm"),
        ('say "hi".wav', "say _hi_.wav", "say%20%22hi%22.wav"),
        ("back\\slash.wav", "back_slash.wav", "back_slash.wav"),
        ("a/b.wav", "a_b.wav", "a_b.wav"),
        ("evil\r\nSet-Cookie: x.wav", "evilSet-Cookie: x.wav", "evilSet-Cookie%3A%20x.wav"),
        ("tab\there\x00.wav", "tabhere.wav", "tabhere.wav"),
        ("50% #1 ;done.mp3", "50% #1 ;done.mp3", "50%25%20#1%20%3Bdone.mp3"),
        ("", "recording", "recording"),
        ("\r\n", "recording", "recording"),
        ("ﬁle.wav", "file.wav", "%EF%AC%81le.wav"),
    ],
)
def test_safe_filename(name: str, fallback: str, encoded: str) -> None:
    assert safe_filename(name) == (fallback, encoded)


def test_safe_filename_fallback_is_plain_printable_ascii() -> None:
    fallback, encoded = safe_filename('x"\\\u2028\u00e9\U0001f600\x7f.wav')
    assert fallback.isascii() and fallback.isprintable()
    assert '"' not in fallback and "\\" not in fallback
    assert encoded.isascii() and all(c.isalnum() or c in "%!#$&+-.^_`|~" for c in encoded)


def test_content_disposition_inline() -> None:
    assert content_disposition("abc123.wav", attachment=False) == (
        "inline; filename=\"abc123.wav\"; filename*=UTF-8''abc123.wav"
    )


def test_content_disposition_attachment_with_non_ascii_name() -> None:
    assert content_disposition("Réunion.webm", attachment=True) == (
        "attachment; filename=\"Reunion.webm\"; filename*=UTF-8''R%C3%A9union.webm"
    )


def test_content_disposition_cannot_be_split_or_unquoted() -> None:
    value = content_disposition('a";\r\nX-Evil: 1; filename="b.wav', attachment=False)
    assert "\r" not in value and "\n" not in value
    assert value.count('"') == 2


# --- probe_duration -------------------------------------------------------------------------------


@requires_ffprobe
@pytest.mark.parametrize(("seconds", "rate", "channels"), [(2.5, 16000, 1), (1.25, 48000, 2)])
def test_probe_duration_of_wav(tmp_path: Path, seconds: float, rate: int, channels: int) -> None:
    path = tmp_path / "réunion 1.wav"  # spaces and non-ASCII in the path
    path.write_bytes(make_wav(seconds, rate, channels))
    duration = asyncio.run(probe_duration(str(path)))
    assert duration == pytest.approx(seconds, abs=0.05)


@requires_ffprobe
@requires_ffmpeg
@pytest.mark.parametrize("seekable", [True, False], ids=["with-duration", "no-duration-header"])
def test_probe_duration_of_webm(tmp_path: Path, seekable: bool) -> None:
    # Without a seekable output ffmpeg cannot write the duration, like a MediaRecorder: the
    # packet-time fallback must find it.
    path = tmp_path / "out.webm"
    path.write_bytes(make_webm(3, seekable=seekable))
    duration = asyncio.run(probe_duration(str(path)))
    assert duration == pytest.approx(3.0, abs=0.05)


@requires_ffprobe
def test_probe_duration_of_missing_file_is_none(tmp_path: Path) -> None:
    assert asyncio.run(probe_duration(str(tmp_path / "nope.wav"))) is None


@requires_ffprobe
def test_probe_duration_of_garbage_is_none(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"not media at all" * 100)
    assert asyncio.run(probe_duration(str(path))) is None


def test_probe_duration_without_ffprobe_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lite.media.shutil.which", lambda _name: None)
    assert asyncio.run(probe_duration("/anything.wav")) is None


def fake_ffprobe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """Put a shell script in ffprobe's place; it sees the same arguments."""
    exe = tmp_path / "ffprobe"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr("lite.media.shutil.which", lambda _name: str(exe))
    return exe


def test_probe_duration_parses_packet_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ffprobe(
        tmp_path,
        monkeypatch,
        'case "$*" in *format=duration*) echo N/A ;;\n'
        "*) printf '0.000000,0.020000,\\n\\n1.500000,N/A\\nN/A,0.02\\n4.980000,0.020000,\\n"
        "2.000000,0.020000\\n' ;; esac\n",
    )
    assert asyncio.run(probe_duration("/x.webm")) == pytest.approx(5.0)


def test_probe_duration_is_none_when_ffprobe_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ffprobe(tmp_path, monkeypatch, "echo 12.0\nexit 1\n")
    assert asyncio.run(probe_duration("/x.wav")) is None


def test_probe_duration_passes_the_path_as_input_not_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = tmp_path / "args"
    fake_ffprobe(tmp_path, monkeypatch, f'printf "%s\\n" "$@" > {args}\necho 7.5\n')
    assert asyncio.run(probe_duration("-y.wav")) == 7.5
    assert args.read_text().splitlines()[-2:] == ["-i", "file:-y.wav"]
    assert asyncio.run(probe_duration("https://s3.example/k.wav?X-Sig=1")) == 7.5
    assert args.read_text().splitlines()[-1] == "https://s3.example/k.wav?X-Sig=1"


def test_probe_duration_timeout_kills_ffprobe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    fake_ffprobe(tmp_path, monkeypatch, f"echo $$ > {pid_file}\nexec sleep 30\n")
    started = time.monotonic()
    assert asyncio.run(probe_duration("/x.wav", timeout=0.5)) is None
    assert time.monotonic() - started < 5
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped: not even a zombie
        os.kill(pid, 0)
