"""Storage keys: the one builder, its accepted shapes and its exact layout."""

from __future__ import annotations

import pytest

from lite import keys
from lite.errors import InvalidKey

SHA = "ab" * 32


# --- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (42, 42), (2**53 - 1, 2**53 - 1), ("42", 42), ("9007199254740991", 2**53 - 1)],
)
def test_check_id_accepts_integers_below_2_53(value: object, expected: int) -> None:
    assert keys.check_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        2**53,
        2**64,
        -1,
        True,
        False,
        1.0,
        None,
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1e3",
        "0x10",
        "9007199254740992",
        "99999999999999999999",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: str.isdigit() says yes
        "\uff11\uff12",  # FULLWIDTH DIGITS ONE TWO
        "\u00b2",  # SUPERSCRIPT TWO: isdigit() says yes, int() raises ValueError
        b"12",
    ],
)
def test_check_id_rejects_everything_else_with_invalid_key(value: object) -> None:
    with pytest.raises(InvalidKey):
        keys.check_id(value)


# --- tokens and extensions ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "abc123", "A-b_C", "x" * 128, "0", "-", "_"])
def test_check_token_accepts_the_allowed_alphabet(value: str) -> None:
    assert keys.check_token(value, "session_uid") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "..",
        ".",
        "a/b",
        "a\\b",
        "a.b",
        "a b",
        "\u00e9",
        "\uff41",
        "a\n",
        "\x00",
        "x" * 129,
        None,
        7,
    ],
)
def test_check_token_rejects_other_shapes(value: object) -> None:
    with pytest.raises(InvalidKey, match="session_uid"):
        keys.check_token(value, "session_uid")


@pytest.mark.parametrize("ext", keys.EXTENSIONS)
def test_check_ext_accepts_the_closed_list(ext: str) -> None:
    assert keys.check_ext(ext) == ext
    assert keys.check_ext(ext.upper()) == ext


@pytest.mark.parametrize("ext", ["", "exe", "WAVE", ".wav", "wav/..", "flac", "json", None])
def test_check_ext_rejects_unknown_extensions(ext: object) -> None:
    with pytest.raises(InvalidKey):
        keys.check_ext(ext)


# --- layout ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (keys.master_key(36, 42, "abc123", "audio", "wav"), "recordings/36/42/abc123.wav"),
        (keys.master_key(36, 42, "abc123", "audio", "WEBM"), "recordings/36/42/abc123.webm"),
        (
            keys.master_key(36, 42, "abc123", "video", "webm"),
            "recordings/36/42/abc123.video.webm",
        ),
        (
            keys.chunk_key(36, 42, "abc123", "audio", 7, "wav"),
            "recordings/36/42/abc123/audio/chunks/0000000007.wav",
        ),
        (
            keys.chunk_key(36, 42, "abc123", "video", 0, "webm"),
            "recordings/36/42/abc123/video/chunks/0000000000.webm",
        ),
        (
            keys.chunk_key(36, 42, "abc123", "audio", 9_999_999_999, "wav"),
            "recordings/36/42/abc123/audio/chunks/9999999999.wav",
        ),
        (
            keys.chunk_prefix(36, 42, "abc123", "audio"),
            "recordings/36/42/abc123/audio/chunks/",
        ),
        (keys.manifest_key(36, 42), "recordings/36/42/recording.json"),
        (keys.recording_prefix(36, 42), "recordings/36/42/"),
        (keys.user_prefix(36), "recordings/36/"),
        (keys.session_index_key("abc123"), "_system/sessions/abc123.json"),
        (keys.api_key_record_key(SHA), f"_system/api-keys/{SHA}.json"),
        (keys.SIGNING_KEY, "_system/signing-key"),
    ],
)
def test_layout_matches_the_design(built: str, expected: str) -> None:
    assert built == expected


def test_one_user_prefix_never_covers_another_user() -> None:
    assert not keys.master_key(360, 1, "s", "audio", "wav").startswith(keys.user_prefix(36))
    assert not keys.manifest_key(36, 420).startswith(keys.recording_prefix(36, 42))


@pytest.mark.parametrize(
    "build",
    [
        lambda: keys.master_key(-1, 42, "abc", "audio", "wav"),
        lambda: keys.master_key(36, 2**53, "abc", "audio", "wav"),
        lambda: keys.master_key(36, 42, "../x", "audio", "wav"),
        lambda: keys.master_key(36, 42, "abc", "audio/..", "wav"),
        lambda: keys.master_key(36, 42, "abc", "audio", "sh"),
        lambda: keys.chunk_key(36, 42, "abc", "audio", -1, "wav"),
        lambda: keys.chunk_key(36, 42, "abc", "audio", True, "wav"),
        lambda: keys.chunk_key(36, 42, "abc", "audio", 1, "../../x"),
        lambda: keys.manifest_key("36/../37", 42),  # type: ignore[arg-type]
        lambda: keys.session_index_key("../api-keys/x"),
        lambda: keys.api_key_record_key("AB" * 32),
        lambda: keys.api_key_record_key("ab" * 31),
        lambda: keys.api_key_record_key("../" + "a" * 61),
    ],
)
def test_builders_reject_any_bad_component(build: object) -> None:
    with pytest.raises(InvalidKey):
        build()  # type: ignore[operator]


def test_chunk_names_sort_in_seq_order_and_parse_back_for_every_accepted_seq() -> None:
    """Fixed-width names keep listing order equal to seq order; a wider seq would break both."""
    seqs = [0, 1, 9, 10, 99, 12345, 9_999_999_999, 10**10, 2**53 - 1]
    names = []
    for seq in seqs:
        try:
            key = keys.chunk_key(1, 2, "s", "audio", seq, "wav")
        except InvalidKey:
            continue  # refusing a seq that cannot be named in fixed width is fine
        name = key.rsplit("/", 1)[1]
        assert keys.parse_chunk_name(name) == (seq, "wav"), f"seq {seq}"
        names.append(name)
    assert names == sorted(names)


# --- chunk names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("0000000007.wav", (7, "wav")),
        ("0000000000.webm", (0, "webm")),
        ("9999999999.mp4", (9_999_999_999, "mp4")),
        ("0000000007.WAV", None),
        ("7.wav", None),
        ("00000000007.wav", None),
        ("0000000007", None),
        ("0000000007.", None),
        ("0000000007.exe", None),
        ("0000000007.wav.tmp", None),
        (".tmp-0000000007.wav-1a2b3c", None),
        ("-000000007.wav", None),
        ("00000000 7.wav", None),
        ("\u0660" * 9 + "\u0667.wav", None),  # ARABIC-INDIC digits
        ("recording.json", None),
        ("", None),
    ],
)
def test_parse_chunk_name(name: str, parsed: tuple[int, str] | None) -> None:
    assert keys.parse_chunk_name(name) == parsed
