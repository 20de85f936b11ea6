"""Conditional and range request decisions for media GET/HEAD (RFC 9110 §13, §14).

Pure: no I/O, stdlib only. The caller stats the object, calls :func:`decide` and then
streams what the :class:`Decision` says.

Grammar decisions (RFC 9110 §14.1.1, §5.6.1):

* ``ranges-specifier = range-unit "=" range-set`` with ``range-set = 1#range-spec``. The list
  rule allows optional whitespace (OWS) only around commas, so ``bytes=0-1, 4-5`` is valid,
  while whitespace inside a range-spec (``bytes=0 - 1``), before the first element
  (``bytes= 0-1``) or around ``=`` (``bytes =0-1``) is malformed and the header is ignored.
  Leading/trailing whitespace of the whole field value is not part of it (§5.5) and is trimmed.
* Empty list elements (``bytes=0-1,,4-5``) are ignored as §5.6.1.2 requires of recipients.
* The unit is compared case-insensitively; any unit but ``bytes`` means "ignore" (200).
* One invalid range-spec (``5-4``, ``a-b``, ``--1``) makes the whole header invalid: ignore it.
* A zero-length representation cannot express a 206 (``Content-Range`` has no empty form),
  so every byte range against it is unsatisfiable (416 ``bytes */0``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Unsatisfiable = Literal["unsatisfiable"]

_OWS = " \t"
_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE = re.compile(r"-([0-9]+)")
# One list element of If-Match/If-None-Match: OWS [entity-tag] OWS ("," | end). Tags may
# contain commas, so the list cannot simply be split on ",".
_ENTITY_TAG = r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")'  # etagc excludes DQUOTE and SP
_ETAG_ITEM = re.compile(r"[ \t]*(?:" + _ENTITY_TAG + r")?[ \t]*(,|\Z)")
_SINGLE_ETAG = re.compile(_ENTITY_TAG)
_BOUNDARY = re.compile(r"[0-9A-Za-z'+_.-]{1,70}")  # RFC 2046 bchars that are also tchars
_DAYS = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAYS = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MON = "(" + "|".join(_MONTHS) + ")"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
_IMF_FIXDATE = re.compile(_DAYS + r", ([0-9]{2}) " + _MON + r" ([0-9]{4}) " + _TIME + " GMT")
_RFC850 = re.compile(_LONG_DAYS + r", ([0-9]{2})-" + _MON + r"-([0-9]{2}) " + _TIME + " GMT")
_ASCTIME = re.compile(_DAYS + " " + _MON + r" ([0-9 ][0-9]) " + _TIME + r" ([0-9]{4})")


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start..end`` of a representation."""

    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class Decision:
    """What to answer: the status and, for a 206, the ranges to send."""

    status: int  # 200, 206, 304, 412 or 416
    ranges: tuple[ByteRange, ...] = ()  # one for a single 206, several for multipart


@dataclass(frozen=True)
class MultipartPlan:
    """Exact framing of a ``multipart/byteranges`` body (RFC 9110 §14.6)."""

    content_type: str  # the response's Content-Type header value
    content_length: int  # exact length of the whole body
    parts: tuple[tuple[bytes, ByteRange], ...]  # (part header bytes, the range that follows)
    closing: bytes  # the close-delimiter, sent after the last part


def content_range(r: ByteRange, size: int) -> str:
    return f"bytes {r.start}-{r.end}/{size}"


def unsatisfied_range(size: int) -> str:
    return f"bytes */{size}"


def new_boundary() -> str:
    # 128 random bits: a collision with the media bytes is not a practical concern.
    return secrets.token_hex(16)


def _number(digits: str) -> int:
    # int() refuses over ~4300 digits (CVE-2020-10735); anything past 2**63 is "beyond any
    # size" anyway, so cap it instead of failing. Order is checked on the digits separately.
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else 2**63


def _digits_le(a: str, b: str) -> bool:
    a, b = a.lstrip("0") or "0", b.lstrip("0") or "0"
    return (len(a), a) <= (len(b), b)


def _resolve(spec: str, size: int) -> ByteRange | Unsatisfiable | None:
    """One range-spec against ``size``: a range, None if invalid, or "unsatisfiable"."""
    if m := _INT_RANGE.fullmatch(spec):
        first, last = m.group(1), m.group(2)
        if last and not _digits_le(first, last):
            return None  # last-pos < first-pos is invalid, not unsatisfiable (§14.1.1)
        start = _number(first)
        if start >= size:
            return "unsatisfiable"
        end = min(_number(last), size - 1) if last else size - 1
        return ByteRange(start, end)
    if m := _SUFFIX_RANGE.fullmatch(spec):
        n = _number(m.group(1))
        if n == 0 or size == 0:
            return "unsatisfiable"
        return ByteRange(max(0, size - n), size - 1)  # longer than the file: the whole file
    return None


def _coalesce(ranges: Iterable[ByteRange]) -> tuple[ByteRange, ...]:
    """Sort, and merge ranges that overlap or touch."""
    merged: list[ByteRange] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if merged and r.start <= merged[-1].end + 1:
            merged[-1] = ByteRange(merged[-1].start, max(merged[-1].end, r.end))
        else:
            merged.append(r)
    return tuple(merged)


def parse_range(
    value: str, size: int, max_ranges: int = 16
) -> tuple[ByteRange, ...] | Unsatisfiable | None:
    """Parse a Range header value against a representation of ``size`` bytes.

    Returns the sorted, coalesced satisfiable ranges; None when the header must be ignored
    (unknown unit, malformed, more than ``max_ranges`` range-specs, or requested lengths
    summing past ``size``, which would amplify the response); or "unsatisfiable" (416).
    """
    unit, eq, range_set = value.strip(_OWS).partition("=")
    if not eq or unit.lower() != "bytes" or range_set[:1] in (" ", "\t"):
        return None
    specs = [s for s in (p.strip(_OWS) for p in range_set.split(",")) if s]  # skip empty items
    if not specs or len(specs) > max_ranges:
        return None
    satisfiable: list[ByteRange] = []
    for spec in specs:
        resolved = _resolve(spec, size)
        if resolved is None:
            return None
        if resolved != "unsatisfiable":
            satisfiable.append(resolved)
    if not satisfiable:
        return "unsatisfiable"
    if sum(r.length for r in satisfiable) > size:
        return None
    return _coalesce(satisfiable)


def _parse_etags(value: str) -> list[tuple[bool, str]] | None:
    """Parse ``#entity-tag`` into (weak, opaque-tag) pairs; None if malformed."""
    tags: list[tuple[bool, str]] = []
    pos = 0
    while pos < len(value):
        m = _ETAG_ITEM.match(value, pos)
        if m is None:
            return None
        if m.group(2):
            tags.append((m.group(1) is not None, m.group(2)))
        if not m.group(3):
            break
        pos = m.end()
    return tags


def _two_digit_year(yy: int, now: datetime) -> int:
    # §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    year = now.year - now.year % 100 + yy
    return year - 100 if year > now.year + 50 else year


def parse_http_date(value: str, *, now: datetime | None = None) -> datetime | None:
    """Parse an HTTP-date in any of the three forms of RFC 9110 §5.6.7; None if invalid."""
    value = value.strip(_OWS)
    if m := _IMF_FIXDATE.fullmatch(value):
        day, mon, year, hh, mm, ss = m.groups()
    elif m := _RFC850.fullmatch(value):
        day, mon, yy, hh, mm, ss = m.groups()
        year = str(_two_digit_year(int(yy), now or datetime.now(UTC)))
    elif m := _ASCTIME.fullmatch(value):
        mon, day, hh, mm, ss, year = m.groups()
    else:
        return None
    second = min(int(ss), 59)  # a leap second (60) is valid on the wire, not in datetime
    try:
        return datetime(
            int(year), _MONTHS.index(mon) + 1, int(day), int(hh), int(mm), second, tzinfo=UTC
        )
    except ValueError:  # e.g. Feb 30 or hour 25
        return None


def _precondition(
    headers: Mapping[str, str], etag: str, last_modified: datetime, safe: bool
) -> int | None:
    """Steps 1-4 of RFC 9110 §13.2.2: a 412/304 status, or None to carry on."""
    if (if_match := headers.get("if-match")) is not None:
        tags = _parse_etags(if_match) or []  # strong comparison: a weak tag never matches
        if if_match.strip(_OWS) != "*" and (False, etag) not in tags:
            return 412
    elif (ius := headers.get("if-unmodified-since")) is not None:
        date = parse_http_date(ius)
        if date is not None and last_modified > date:
            return 412
    if (if_none_match := headers.get("if-none-match")) is not None:
        tags = _parse_etags(if_none_match) or []  # weak comparison: W/ is disregarded
        if if_none_match.strip(_OWS) == "*" or etag in (tag for _, tag in tags):
            return 304 if safe else 412
    elif safe and (ims := headers.get("if-modified-since")) is not None:
        date = parse_http_date(ims)
        if date is not None and last_modified <= date:
            return 304
    return None


def _if_range_holds(value: str, etag: str, last_modified: datetime, date_is_strong: bool) -> bool:
    """§13.1.5: a strong, exact entity-tag match, or an exact Last-Modified date match (only
    while the date is a strong validator, §8.8.2.2)."""
    value = value.strip(_OWS)
    if m := _SINGLE_ETAG.fullmatch(value):
        return m.group(1) is None and m.group(2) == etag  # a weak tag never matches
    date = parse_http_date(value)
    return date_is_strong and date is not None and date == last_modified


def decide(
    headers: Mapping[str, str],
    size: int,
    etag: str,
    last_modified: datetime,
    max_ranges: int = 16,
    *,
    method: str = "GET",
    date_is_strong: bool = True,
) -> Decision:
    """Decide the response to a GET/HEAD of a ``size``-byte representation.

    ``headers`` has lower-case names. ``method`` defaults to GET; for HEAD, §14.2 makes the
    server ignore Range ("GET is the only method for which range handling is defined").
    """
    safe = method in ("GET", "HEAD")
    if not date_is_strong:
        # A representation that can change twice within a second: its date validates nothing.
        headers = {k: v for k, v in headers.items() if k != "if-modified-since"}
    status = _precondition(headers, etag, last_modified, safe)
    if status is not None:
        return Decision(status)
    range_value = headers.get("range")
    if range_value is None or method != "GET":
        return Decision(200)
    parsed = parse_range(range_value, size, max_ranges)
    if parsed is None:
        return Decision(200)
    if_range = headers.get("if-range")
    if if_range is not None and not _if_range_holds(if_range, etag, last_modified, date_is_strong):
        return Decision(200)
    if parsed == "unsatisfiable":
        return Decision(416)
    return Decision(206, parsed)


def multipart_plan(
    ranges: Sequence[ByteRange], size: int, content_type: str, boundary: str
) -> MultipartPlan:
    """Frame ``ranges`` as a multipart/byteranges body with CRLF line endings.

    Each part is ``CRLF --boundary CRLF headers CRLF CRLF bytes``; the body ends with
    ``CRLF --boundary-- CRLF``. The leading CRLF belongs to the first delimiter (RFC 2046).
    """
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"unsafe multipart boundary: {boundary!r}")
    if any(c in content_type for c in "\r\n\0"):
        raise ValueError("content type must not contain CR, LF or NUL")  # header injection
    if not ranges or any(r.start < 0 or r.start > r.end or r.end >= size for r in ranges):
        raise ValueError("ranges must be non-empty and inside the representation")
    delimiter = f"\r\n--{boundary}"
    parts = tuple(
        (f"{delimiter}\r\nContent-Type: {content_type}\r\n"
         f"Content-Range: {content_range(r, size)}\r\n\r\n".encode("latin-1"), r)
        for r in ranges
    )  # fmt: skip
    closing = f"{delimiter}--\r\n".encode("latin-1")
    length = sum(len(head) + r.length for head, r in parts) + len(closing)
    return MultipartPlan(f"multipart/byteranges; boundary={boundary}", length, parts, closing)
