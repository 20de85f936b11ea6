"""lite.wav: parse chunk headers, build the master's header, durations."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lite.wav import (
    HEADER_PROBE_BYTES,
    WavError,
    WavFormat,
    WavLayout,
    build_wav_header,
    duration_seconds,
    header_size,
    pad_byte_needed,
    parse_wav_header,
)
from tests.mediafiles import (
    build_riff,
    chunk,
    extensible_fmt_body,
    fmt_body,
    list_chunk,
    make_wav,
    pcm,
    read_wav,
    streaming_wav,
)

PCM16_MONO = WavFormat(1, 1, 16000, 32000, 2, 16)
PCM16_STEREO = WavFormat(1, 2, 48000, 192000, 4, 16)
PCM8_MONO = WavFormat(1, 1, 8000, 8000, 1, 8)


def parse(data: bytes) -> tuple[WavFormat, bytes]:
    """Parse as the assembler does (at most HEADER_PROBE_BYTES) and cut out the payload."""
    layout = parse_wav_header(data[:HEADER_PROBE_BYTES], len(data))
    return layout.fmt, data[layout.data_offset : layout.data_offset + layout.data_size]


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "channels", "sampwidth"),
    [(16000, 1, 2), (48000, 2, 2), (8000, 1, 1), (44100, 2, 3)],
)
def test_parse_stdlib_wave_files(rate: int, channels: int, sampwidth: int) -> None:
    data = make_wav(0.5, rate, channels, sampwidth)
    layout = parse_wav_header(data[:HEADER_PROBE_BYTES], len(data))
    block = channels * sampwidth
    assert layout.fmt == WavFormat(1, channels, rate, rate * block, block, sampwidth * 8)
    assert layout.data_offset == 44
    assert layout.data_size == len(data) - 44 == (rate // 2) * block


def test_parse_extensible_with_list_chunks_before_and_after_data() -> None:
    frames = pcm(1000, channels=2, sampwidth=3)
    data = build_riff(
        [chunk(b"fmt ", extensible_fmt_body(48000, 2, 24)), list_chunk("Standup")],
        frames,
        after=[list_chunk("trailing tags")],
    )
    layout = parse_wav_header(data, len(data))
    assert layout.fmt.audio_format == 0xFFFE
    assert (layout.fmt.channels, layout.fmt.block_align, layout.fmt.bits_per_sample) == (2, 6, 24)
    assert len(layout.fmt.extra) == 24  # cbSize + 22 extension bytes
    assert layout.fmt.extra[:2] == struct.pack("<H", 22)
    assert data[layout.data_offset : layout.data_offset + layout.data_size] == frames
    assert layout.data_offset + layout.data_size < len(data)  # the trailing LIST is not audio


def test_parse_skips_odd_sized_chunk_with_its_pad_byte() -> None:
    frames = pcm(100)
    odd = chunk(b"JUNK", b"abc")  # 3-byte body + pad byte
    data = build_riff(
        [chunk(b"fmt ", fmt_body(16000, 1, 16)), odd, chunk(b"fact", b"\0" * 4)], frames
    )
    assert parse(data) == (PCM16_MONO, frames)


def test_parse_fmt_with_cbsize_keeps_extra() -> None:
    frames = pcm(10)
    data = build_riff([chunk(b"fmt ", fmt_body(16000, 1, 16, extra=b"\0\0"))], frames)
    fmt, payload = parse(data)
    assert fmt.extra == b"\0\0"
    assert payload == frames


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF])
def test_streaming_writer_placeholder_sizes_use_what_is_present(placeholder: int) -> None:
    frames = pcm(1600, channels=2)
    data = streaming_wav(frames, 48000, 2, 16, placeholder)
    layout = parse_wav_header(data, len(data))
    assert layout.data_offset == 44
    assert layout.data_size == len(frames)


def test_declared_size_beyond_file_uses_what_is_present() -> None:
    frames = pcm(500)
    data = build_riff([chunk(b"fmt ", fmt_body(16000, 1, 16))], frames, data_size=10_000)
    assert parse(data) == (PCM16_MONO, frames)


def test_partial_trailing_frame_is_dropped() -> None:
    frames = pcm(500, channels=2)
    data = streaming_wav(frames + b"\x01\x02\x03", 48000, 2, 16, 0)  # cut mid-frame
    assert parse_wav_header(data, len(data)).data_size == len(frames)


def test_head_shorter_than_file_is_enough() -> None:
    data = make_wav(5.0)  # 160 KB, more than the probe
    layout = parse_wav_header(data[:HEADER_PROBE_BYTES], len(data))
    assert (layout.data_offset, layout.data_size) == (44, len(data) - 44)


def test_large_chunk_before_data_pushes_data_out_of_the_probe() -> None:
    junk = chunk(b"JUNK", b"\0" * HEADER_PROBE_BYTES)
    data = build_riff([chunk(b"fmt ", fmt_body(16000, 1, 16)), junk], pcm(10))
    with pytest.raises(WavError, match=f"not found in the first {HEADER_PROBE_BYTES} bytes"):
        parse(data)


FMT16 = chunk(b"fmt ", fmt_body(16000, 1, 16))


RIFF_HEAD = b"RIFF\x1c\0\0\0WAVE"
MALFORMED = {
    "empty": (b"", "too short"),
    "short": (b"RIFF\0\0\0\0WAV", "too short"),
    "ogg": (b"OggS" + b"\0" * 60, "not a RIFF/WAVE"),
    "avi": (b"RIFF\x24\0\0\0AVI LIST" + b"\0" * 40, "not a RIFF/WAVE"),
    "rf64": (b"RF64\xff\xff\xff\xffWAVEds64" + b"\0" * 40, "RF64.*not supported"),
    "data-first": (build_riff([], pcm(10)), "no fmt chunk before its data"),
    "list-then-data": (build_riff([list_chunk("x")], pcm(10)), "no fmt chunk before its data"),
    "no-chunks": (b"RIFF\x04\0\0\0WAVE", "no data chunk"),
    "fmt-only": (RIFF_HEAD + FMT16, "no data chunk"),
    "fmt-cut": (RIFF_HEAD + FMT16[:20], "fmt chunk is truncated"),
    "fmt-too-short": (RIFF_HEAD + chunk(b"fmt ", b"\x01\0\x01\0"), "fmt chunk is too short"),
    "chunk-past-end": (RIFF_HEAD + FMT16 + b"LIST\xff\0\0\0abc", "truncated"),
}


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_headers_raise_wav_error(data: bytes, message: str) -> None:
    with pytest.raises(WavError, match=message):
        parse_wav_header(data, len(data))


def test_wav_error_is_a_value_error() -> None:
    assert issubclass(WavError, ValueError)


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=1000))
def test_parser_raises_only_wav_error_on_garbage(data: bytes, extra: int) -> None:
    try:
        layout = parse_wav_header(data, len(data) + extra)
    except WavError:
        return
    assert 0 <= layout.data_size <= len(data) + extra - layout.data_offset


# --- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        PCM16_STEREO,
        WavFormat(1, 1, 48000, 96000, 2, 16),
        WavFormat(3, 1, 16000, 64000, 4, 32),
        WavFormat(1, 1, 16000, 32000, 2, 16, extra=b"\0\0"),
    ],
)
def test_mismatched_formats_compare_unequal(other: WavFormat) -> None:
    assert other != PCM16_MONO


def test_same_format_from_two_chunks_compares_equal() -> None:
    a, _ = parse(make_wav(1.0, seed=1))
    b, _ = parse(make_wav(2.0, seed=2))
    assert a == b == PCM16_MONO


def test_describe_names_the_format() -> None:
    assert PCM16_MONO.describe() == "PCM 16000 Hz, 1 ch, 16-bit"
    assert "extensible" in WavFormat(0xFFFE, 2, 48000, 0, 4, 16, b"x" * 24).describe()


# --- building -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "channels", "sampwidth"),
    [(16000, 1, 2), (48000, 2, 2), (8000, 1, 1)],
)
def test_assembled_master_reads_back_with_stdlib_wave(
    rate: int, channels: int, sampwidth: int
) -> None:
    # Three chunks of uneven length; 8-bit mono with an odd total exercises the pad byte.
    chunks = [make_wav(s, rate, channels, sampwidth, seed=i) for i, s in enumerate((1.0, 0.5, 0.3))]
    parsed = [parse(c) for c in chunks]
    fmt = parsed[0][0]
    assert all(f == fmt for f, _ in parsed)
    payload = b"".join(p for _, p in parsed)
    master = build_wav_header(fmt, len(payload)) + payload
    master += b"\0" if pad_byte_needed(len(payload)) else b""
    params, frames = read_wav(master)
    assert (params.nchannels, params.sampwidth, params.framerate) == (channels, sampwidth, rate)
    assert params.nframes == sum(round(s * rate) for s in (1.0, 0.5, 0.3))
    assert frames == payload
    assert struct.unpack_from("<I", master, 4)[0] == len(master) - 8


def test_odd_payload_counts_pad_byte_in_riff_size() -> None:
    header = build_wav_header(PCM8_MONO, 7)
    assert pad_byte_needed(7) and not pad_byte_needed(8)
    assert struct.unpack_from("<I", header, 4)[0] == len(header) - 8 + 7 + 1
    assert struct.unpack_from("<I", header, len(header) - 4)[0] == 7  # data size excludes the pad


def test_canonical_pcm_header_matches_stdlib_wave() -> None:
    data = make_wav(0.25, 48000, 2, 2)
    fmt, payload = parse(data)
    assert build_wav_header(fmt, len(payload)) == data[:44]
    assert header_size(fmt) == 44


@pytest.mark.parametrize(
    "fmt",
    [
        WavFormat(0xFFFE, 2, 48000, 288000, 6, 24, extensible_fmt_body(48000, 2, 24)[16:]),
        WavFormat(1, 1, 16000, 32000, 2, 16, b"\0\0"),
        WavFormat(1, 1, 16000, 32000, 2, 16, b"\x01\0\x07"),  # odd extra: fmt chunk gets a pad
    ],
    ids=["extensible", "cbsize-0", "odd-extra"],
)
def test_built_header_parses_back_with_extra_preserved(fmt: WavFormat) -> None:
    header = build_wav_header(fmt, 600)
    assert len(header) == header_size(fmt) and len(header) % 2 == 0
    layout = parse_wav_header(header + b"\0" * 600, len(header) + 600)
    assert layout == WavLayout(fmt, len(header), 600)


@given(
    st.sampled_from([1, 3, 6, 7]),
    st.integers(1, 8),
    st.integers(1, 384000),
    st.sampled_from([8, 16, 24, 32]),
    st.binary(max_size=30),
    st.integers(0, 5000),
)
def test_build_then_parse_round_trips(
    audio_format: int, channels: int, rate: int, bits: int, extra: bytes, frames: int
) -> None:
    block = channels * bits // 8
    fmt = WavFormat(audio_format, channels, rate, rate * block, block, bits, extra)
    size = frames * block
    data = build_wav_header(fmt, size) + bytes(size) + b"\0" * (size % 2)
    layout = parse_wav_header(data, len(data))
    assert (layout.fmt, layout.data_offset, layout.data_size) == (fmt, header_size(fmt), size)


def test_four_gib_limit() -> None:
    limit = 0xFFFFFFFF - (header_size(PCM16_MONO) - 8)
    largest = limit - 1  # even, so no pad byte
    assert struct.unpack_from("<I", build_wav_header(PCM16_MONO, largest), 4)[0] == 0xFFFFFFFF - 1
    with pytest.raises(WavError, match="4 GiB"):
        build_wav_header(PCM16_MONO, limit + 1)
    with pytest.raises(WavError, match="negative"):
        build_wav_header(PCM16_MONO, -1)


# --- duration -------------------------------------------------------------------------------------


def test_duration_seconds() -> None:
    assert duration_seconds(PCM16_MONO, 32000) == 1.0
    assert duration_seconds(PCM16_STEREO, 192000 * 90) == 90.0
    assert duration_seconds(PCM16_MONO, 0) == 0.0
    assert duration_seconds(WavFormat(1, 1, 16000, 0, 2, 16), 32000) == 0.0


def test_duration_of_parsed_file() -> None:
    fmt, payload = parse(make_wav(2.5, 48000, 2, 2))
    assert duration_seconds(fmt, len(payload)) == 2.5
