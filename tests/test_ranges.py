"""Tests for lite.ranges, written from RFC 9110 §13 (conditional) and §14 (range requests)."""

from __future__ import annotations

import email
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lite.ranges import (
    ByteRange,
    Decision,
    content_range,
    decide,
    multipart_plan,
    new_boundary,
    parse_http_date,
    parse_range,
    unsatisfied_range,
)

ETAG = '"abc123"'
LM = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
LM_HTTP = "Tue, 02 Jan 2024 03:04:05 GMT"
EARLIER = "Mon, 01 Jan 2024 00:00:00 GMT"
LATER = "Wed, 03 Jan 2024 00:00:00 GMT"
SIZE = 1000


def br(*pairs: tuple[int, int]) -> tuple[ByteRange, ...]:
    return tuple(ByteRange(a, b) for a, b in pairs)


def run(headers: dict[str, str], size: int = SIZE, method: str = "GET") -> Decision:
    lowered = {k.replace("_", "-"): v for k, v in headers.items()}
    return decide(lowered, size, ETAG, LM, method=method)


# --- parse_range: satisfiable single ranges (§14.1.2) -------------------------------------


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        ("bytes=0-499", 1000, br((0, 499))),
        ("bytes=500-999", 1000, br((500, 999))),
        ("bytes=500-", 1000, br((500, 999))),
        ("bytes=-500", 1000, br((500, 999))),
        ("bytes=0-0", 1000, br((0, 0))),  # first byte only
        ("bytes=-1", 1000, br((999, 999))),  # last byte only
        ("bytes=0-1", 1000, br((0, 1))),  # Safari's probe
        ("bytes=0-1", 1, br((0, 0))),  # probe of a one-byte file
        ("bytes=900-5000", 1000, br((900, 999))),  # end past the size is clamped
        ("bytes=0-99999999999999999999999999", 1000, br((0, 999))),  # huge end clamped
        ("bytes=-5000", 1000, br((0, 999))),  # suffix longer than the file: whole file
        ("bytes=999-999", 1000, br((999, 999))),
        ("bytes=0-", 1000, br((0, 999))),
        ("BYTES=0-9", 1000, br((0, 9))),  # range-unit is case-insensitive
        ("Bytes=0-9", 1000, br((0, 9))),
        ("bytes=007-009", 1000, br((7, 9))),  # 1*DIGIT allows leading zeros
        ("  bytes=0-9  ", 1000, br((0, 9))),  # field value is trimmed (§5.5)
    ],
)
def test_parse_single(value: str, size: int, expected: tuple[ByteRange, ...]) -> None:
    assert parse_range(value, size) == expected


# --- parse_range: headers that must be ignored (→ 200) ------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "items=0-5",  # unknown unit
        "none",
        "bytes",
        "bytes=",
        "bytes=,",
        "bytes=a-b",
        "bytes=5-4",  # last-pos < first-pos is invalid
        "bytes=--1",
        "bytes=-",
        "bytes=1-2-3",
        "bytes=0-1;2-3",
        "bytes= 0-1",  # OWS only around commas, not before the first range-spec
        "bytes=0 - 1",  # no whitespace inside a range-spec
        "bytes =0-1",  # nor around "="
        "bytes=-+5",
        "bytes=0x10-20",
        "bytes=\u0661-\u0662",  # non-ASCII digits are not DIGIT
        "bytes=0-1,5-4",  # one invalid range-spec spoils the set
        "bytes=99999999999999999999999-99999999999999999999998",
        "",
        "garbage",
    ],
)
def test_parse_ignored(value: str) -> None:
    assert parse_range(value, SIZE) is None


# --- parse_range: valid but unsatisfiable (→ 416) -----------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("bytes=1000-", 1000),  # first-pos == size
        ("bytes=1000-2000", 1000),
        ("bytes=5000-6000", 1000),
        ("bytes=-0", 1000),  # zero-length suffix
        ("bytes=1000-,2000-3000", 1000),  # every range unsatisfiable
        ("bytes=99999999999999999999999-", 1000),
        ("bytes=0-0", 0),  # zero-byte object: nothing to send
        ("bytes=0-", 0),
        ("bytes=-1", 0),
    ],
)
def test_parse_unsatisfiable(value: str, size: int) -> None:
    assert parse_range(value, size) == "unsatisfiable"


# --- parse_range: several ranges -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-1,4-5", br((0, 1), (4, 5))),
        ("bytes=0-1, 4-5", br((0, 1), (4, 5))),  # OWS after the comma
        ("bytes=0-1 ,\t4-5", br((0, 1), (4, 5))),  # OWS on both sides
        ("bytes=0-1,,4-5", br((0, 1), (4, 5))),  # empty list elements are ignored
        (
            "bytes=,0-1",
            br(
                (0, 1),
            ),
        ),
        ("bytes=4-5,0-1", br((0, 1), (4, 5))),  # sorted
        (
            "bytes=0-4,3-6",
            br(
                (0, 6),
            ),
        ),  # overlapping → one range, single 206
        (
            "bytes=0-4,5-9",
            br(
                (0, 9),
            ),
        ),  # adjacent → coalesced
        (
            "bytes=0-9,2-3",
            br(
                (0, 9),
            ),
        ),  # contained
        ("bytes=0-1,-2", br((0, 1), (998, 999))),
        (
            "bytes=0-1,2000-3000",
            br(
                (0, 1),
            ),
        ),  # unsatisfiable members are dropped
        (
            "bytes=-0,10-19",
            br(
                (10, 19),
            ),
        ),
    ],
)
def test_parse_multi(value: str, expected: tuple[ByteRange, ...]) -> None:
    assert parse_range(value, SIZE) == expected


@pytest.mark.parametrize(
    ("value", "max_ranges", "expected"),
    [
        (",".join(f"{i}-{i}" for i in range(0, 32, 2)), 16, 16),  # 16 ranges allowed
        (",".join(f"{i}-{i}" for i in range(0, 34, 2)), 16, None),  # 17 → ignore
        ("bytes=0-0,0-0,0-0", 2, None),  # counted before coalescing
        ("bytes=0-599,500-999", 16, None),  # 600 + 500 > 1000: amplification
        ("bytes=0-999,0-0", 16, None),
        ("bytes=0-499,500-999", 16, 1),  # exactly the size is fine (coalesces to one)
    ],
)
def test_parse_limits(value: str, max_ranges: int, expected: int | None) -> None:
    if not value.startswith("bytes="):
        value = "bytes=" + value
    result = parse_range(value, SIZE, max_ranges)
    assert (len(result) if isinstance(result, tuple) else result) == expected


# --- decide: preconditions in the order of §13.2.2 ----------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"if_match": ETAG}, 200),
        ({"if_match": "*"}, 200),  # "*" matches any existing representation
        ({"if_match": f'"x", {ETAG}'}, 200),
        ({"if_match": '"other"'}, 412),
        ({"if_match": f"W/{ETAG}"}, 412),  # If-Match uses strong comparison
        ({"if_match": "garbage"}, 412),
        ({"if_unmodified_since": LM_HTTP}, 200),
        ({"if_unmodified_since": LATER}, 200),
        ({"if_unmodified_since": EARLIER}, 412),
        ({"if_unmodified_since": "not a date"}, 200),  # invalid date is ignored
        ({"if_match": ETAG, "if_unmodified_since": EARLIER}, 200),  # IUS ignored with If-Match
        ({"if_none_match": ETAG}, 304),
        ({"if_none_match": f"W/{ETAG}"}, 304),  # If-None-Match uses weak comparison
        ({"if_none_match": f'"x", W/"y", {ETAG}'}, 304),
        ({"if_none_match": "*"}, 304),
        ({"if_none_match": '"other"'}, 200),
        ({"if_none_match": '"a,b", "c"'}, 200),  # commas inside a tag are not separators
        ({"if_modified_since": LM_HTTP}, 304),
        ({"if_modified_since": LATER}, 304),
        ({"if_modified_since": EARLIER}, 200),
        ({"if_modified_since": "yesterday"}, 200),
        ({"if_none_match": '"other"', "if_modified_since": LATER}, 200),  # IMS ignored
        ({"if_match": '"other"', "if_none_match": ETAG}, 412),  # 412 beats 304
        ({"if_none_match": ETAG, "range": "bytes=0-1"}, 304),  # 304 beats range
        ({"if_modified_since": LM_HTTP, "range": "bytes=0-1"}, 304),
        ({"if_match": '"other"', "range": "bytes=5000-"}, 412),  # 412 beats 416
    ],
)
def test_decide_preconditions(headers: dict[str, str], status: int) -> None:
    assert run(headers).status == status


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("HEAD", {"if_none_match": ETAG}, 304),
        ("HEAD", {"range": "bytes=0-1"}, 200),  # §14.2: range handling is for GET only
        ("POST", {"if_none_match": ETAG}, 412),  # 304 is only for GET/HEAD
        ("POST", {"if_modified_since": LATER}, 200),  # IMS only applies to GET/HEAD
    ],
)
def test_decide_methods(method: str, headers: dict[str, str], status: int) -> None:
    assert run(headers, method=method).status == status


# --- decide: Range and If-Range -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "size", "expected"),
    [
        ({"range": "bytes=0-1"}, 1000, Decision(206, br((0, 1)))),
        ({"range": "bytes=0-1,10-19"}, 1000, Decision(206, br((0, 1), (10, 19)))),
        ({"range": "bytes=0-4,5-9"}, 1000, Decision(206, br((0, 9)))),
        ({"range": "bytes=1000-"}, 1000, Decision(416)),
        ({"range": "bytes=-0"}, 1000, Decision(416)),
        ({"range": "items=0-5"}, 1000, Decision(200)),
        ({"range": "bytes=5-4"}, 1000, Decision(200)),
        ({"range": "bytes=0-0"}, 0, Decision(416)),
        ({}, 0, Decision(200)),  # a zero-byte object without Range is a plain 200
        ({"range": "bytes=0-1", "if_range": ETAG}, 1000, Decision(206, br((0, 1)))),
        ({"range": "bytes=0-1", "if_range": '"stale"'}, 1000, Decision(200)),
        ({"range": "bytes=0-1", "if_range": f"W/{ETAG}"}, 1000, Decision(200)),  # weak never
        ({"range": "bytes=0-1", "if_range": LM_HTTP}, 1000, Decision(206, br((0, 1)))),
        ({"range": "bytes=0-1", "if_range": LATER}, 1000, Decision(200)),  # exact date only
        ({"range": "bytes=0-1", "if_range": EARLIER}, 1000, Decision(200)),
        ({"range": "bytes=0-1", "if_range": "nonsense"}, 1000, Decision(200)),
        ({"range": "bytes=0-1", "if_range": f"{ETAG}, {ETAG}"}, 1000, Decision(200)),
        ({"range": "bytes=5000-", "if_range": ETAG}, 1000, Decision(416)),
        ({"range": "bytes=5000-", "if_range": '"stale"'}, 1000, Decision(200)),
        ({"if_range": '"stale"'}, 1000, Decision(200)),  # If-Range without Range: ignored
        ({"range": "items=1-2", "if_range": ETAG}, 1000, Decision(200)),
    ],
)
def test_decide_ranges(headers: dict[str, str], size: int, expected: Decision) -> None:
    assert run(headers, size=size) == expected


def test_decide_max_ranges_argument() -> None:
    headers = {"range": "bytes=0-0,2-2,4-4"}
    assert decide(headers, SIZE, ETAG, LM, max_ranges=2) == Decision(200)
    assert decide(headers, SIZE, ETAG, LM, max_ranges=3).status == 206


# --- HTTP-date (§5.6.7) --------------------------------------------------------------------

NOW = datetime(2025, 6, 1, tzinfo=UTC)
NOV_1994 = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", NOV_1994),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", NOV_1994),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", NOV_1994),  # obsolete asctime
        ("Sunday, 06-Nov-30 08:49:37 GMT", datetime(2030, 11, 6, 8, 49, 37, tzinfo=UTC)),
        ("Sat, 31 Dec 2016 23:59:60 GMT", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Sun, 06 Nov 1994 08:49:37 UTC", None),  # only "GMT"
        ("Sun, 06 Nov 1994 08:49:37 +0000", None),
        ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 25:49:37 GMT", None),
        ("1994-11-06T08:49:37Z", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", None),  # a list
        ("", None),
    ],
)
def test_parse_http_date(value: str, expected: datetime | None) -> None:
    assert parse_http_date(value, now=NOW) == expected


# --- header values ---------------------------------------------------------------------------


def test_content_range_values() -> None:
    assert content_range(ByteRange(0, 1), 100) == "bytes 0-1/100"
    assert unsatisfied_range(100) == "bytes */100"
    assert unsatisfied_range(0) == "bytes */0"
    assert ByteRange(5, 5).length == 1


# --- multipart/byteranges framing (§14.6) ----------------------------------------------------

DATA = bytes(range(256)) * 8  # every byte value, including CR and LF, in the parts


@pytest.mark.parametrize(
    "value",
    ["bytes=0-0,-1", "bytes=0-99,13-14,500-", "bytes=10-10,12-12,14-14", "bytes=-3,0-2"],
)
def test_multipart_parses_with_email(value: str) -> None:
    ranges = parse_range(value, len(DATA))
    assert isinstance(ranges, tuple) and len(ranges) > 1
    boundary = new_boundary()
    plan = multipart_plan(ranges, len(DATA), "audio/webm", boundary)
    body = b"".join(head + DATA[r.start : r.end + 1] for head, r in plan.parts) + plan.closing
    assert len(body) == plan.content_length
    assert plan.content_type == f"multipart/byteranges; boundary={boundary}"
    message = email.message_from_bytes(
        b"Content-Type: " + plan.content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart() and not message.defects
    parts = message.get_payload()
    assert isinstance(parts, list) and len(parts) == len(ranges)
    for part, r in zip(parts, ranges, strict=True):
        assert part["Content-Type"] == "audio/webm"
        assert part["Content-Range"] == content_range(r, len(DATA))
        assert part.get_payload(decode=True) == DATA[r.start : r.end + 1]


def test_multipart_crlf_framing() -> None:
    plan = multipart_plan(br((0, 1), (4, 5)), 10, "audio/ogg", "B")
    assert plan.parts[0][0] == (
        b"\r\n--B\r\nContent-Type: audio/ogg\r\nContent-Range: bytes 0-1/10\r\n\r\n"
    )
    assert plan.closing == b"\r\n--B--\r\n"
    assert [r for _, r in plan.parts] == list(br((0, 1), (4, 5)))


@pytest.mark.parametrize(
    ("ranges", "content_type", "boundary"),
    [
        (br((0, 1)), "audio/ogg", "bad boundary"),  # space needs quoting
        (br((0, 1)), "audio/ogg", 'x"y'),
        (br((0, 1)), "audio/ogg", "x" * 71),  # RFC 2046: at most 70 characters
        (br((0, 1)), "audio/ogg\r\nX-Evil: 1", "B"),
        ((), "audio/ogg", "B"),
        (br((5, 10)), "audio/ogg", "B"),  # end past the size
    ],
)
def test_multipart_rejects(ranges: tuple[ByteRange, ...], content_type: str, boundary: str) -> None:
    with pytest.raises(ValueError):
        multipart_plan(ranges, 10, content_type, boundary)


def test_new_boundary_is_random_token() -> None:
    first, second = new_boundary(), new_boundary()
    assert first != second
    multipart_plan(br((0, 0)), 1, "audio/ogg", first)  # accepted as a safe boundary


# --- property: single ranges agree with a naive reference ------------------------------------


def naive(spec: tuple[int | None, int | None], data: bytes) -> bytes | None:
    """What the RFC asks for, by Python slicing; None when unsatisfiable."""
    first, last = spec
    if first is None:
        assert last is not None
        return data[-last:] if last and data else None
    if first >= len(data):
        return None
    return data[first:] if last is None else data[first : last + 1]


@st.composite
def single_ranges(draw: st.DrawFn) -> tuple[int | None, int | None]:
    kind = draw(st.sampled_from(["int", "open", "suffix"]))
    a = draw(st.integers(min_value=0, max_value=3000))
    if kind == "suffix":
        return None, a
    if kind == "open":
        return a, None
    return a, a + draw(st.integers(min_value=0, max_value=3000))


@given(k=st.integers(min_value=0, max_value=8), spec=single_ranges())
def test_property_single_range(k: int, spec: tuple[int | None, int | None]) -> None:
    data = bytes(range(256)) * k
    first, last = spec
    text = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    got = decide({"range": text}, len(data), ETAG, LM)
    want = naive(spec, data)
    if want is None:
        assert got == Decision(416)
        return
    assert got.status == 206 and len(got.ranges) == 1
    r = got.ranges[0]
    assert data[r.start : r.end + 1] == want and r.length == len(want)
