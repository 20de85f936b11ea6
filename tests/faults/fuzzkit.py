"""Hostile requests for the fuzz check, drawn by hypothesis with a fixed seed, and a raw HTTP/1.1
sender (httpx would tidy `..`, refuse a NUL and fix a wrong Content-Length; a socket does not).

MARK is in every name a fuzzed request might make the app write (session uids, file names,
traversal targets), so a file outside the store can be found by name afterwards; it differs per
run so an earlier run's files are not taken for this one's."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from hypothesis import strategies as st

from tests import mediafiles

WAV = mediafiles.wav_from_pcm(mediafiles.pcm(1600, 1, 2, 0), 16000, 1, 2)  # 0.1 s, valid
MARK = f"fuzzmark{uuid.uuid4().hex[:8]}"
MEDIA = "/recordings/{rec}/media/{media}"


@dataclass(frozen=True)
class Raw:
    """One request as bytes on the wire; `half_close` ends the send side after the body (a
    Content-Length promising more than is sent would otherwise wait on the client)."""

    kind: str
    method: str
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes = b""
    half_close: bool = False


@dataclass(frozen=True)
class Creds:
    """What the running app accepts: one header per way in."""

    api_key: str
    other_key: str
    admin: str
    secret: str
    upload_token: str
    meeting_token: str
    rec: int
    media: int
    session: str
    etag: str
    signed: str  # the query string of a signed /raw URL for (rec, media)

    def choices(self) -> list[dict[str, str]]:
        bearer = [self.secret, self.upload_token, self.meeting_token, "x.y.z", ""]
        return [
            {},
            {"X-API-Key": self.api_key},
            {"X-API-Key": self.other_key},
            {"X-Admin-API-Key": self.admin},
            *({"Authorization": f"Bearer {token}"} for token in bearer),
        ]

    @property
    def user(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    @property
    def recorders(self) -> list[dict[str, str]]:
        bearer = [self.secret, self.upload_token, self.meeting_token]
        return [{"Authorization": f"Bearer {token}"} for token in bearer]


def _auth(draw: st.DrawFn, creds: Creds, right: list[dict[str, str]]) -> dict[str, str]:
    """Mostly the credential the route takes (to get past auth), else any of them."""
    choices = right if draw(st.integers(0, 3)) else creds.choices()
    return dict(draw(st.sampled_from(choices)))


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# --- pieces --------------------------------------------------------------------------------------

_SEGMENTS = st.sampled_from(
    [
        "..",
        "%2e%2e",
        "%2E%2e%2f..",
        "..%2f..%2f..%2ftmp%2f" + MARK,
        "..%5c..%5c" + MARK,
        "..\\..\\" + MARK,
        "%00",
        "a%00b",
        "%c0%ae%c0%ae",
        "%ff%fe",
        "é",
        "%e2%80%ae" + MARK,
        "\u202e" + MARK,
        ".",
        "",
        "//",
        ";x=1",
        "%20",
        "-1",
        "0",
        "1",
        "9999999999",
        "99999999999999999999999",
        "1e3",
        " 1",
        "0x10",
        "NaN",
        MARK,
        "../" * 40 + MARK,
    ]
)
_LONG = st.integers(1, 9000).map(lambda n: "a" * n)
_SEGMENT = st.one_of(_SEGMENTS, _LONG, st.text(max_size=30).map(lambda s: s.replace(" ", "%20")))
_TEMPLATES = [
    "/recordings/{}",
    "/recordings/{}/master",
    MEDIA.replace("{rec}", "{}").replace("{media}", "1") + "/raw",
    "/recordings/{}/media/{}/download",
    "/recordings/{}/media/{}/peaks",
    "/ingest/sessions/{}/audio/chunks/{}",
    "/ingest/sessions/{}/{}/chunks/0",
    "/ingest/sessions/{}/finalize",
    "/console/{}",
    "/docs/{}",
    "/{}",
    "/{}/{}",
    "/admin/users/{}/api-keys",
    "/admin/users/{}/webhooks/{}",
    "/admin/api-keys/{}",
]
_METHODS = st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"])


@st.composite
def paths(draw: st.DrawFn, creds: Creds) -> Raw:
    template = draw(st.sampled_from(_TEMPLATES))
    target = template.format(*(draw(_SEGMENT) for _ in range(template.count("{}"))))
    if draw(st.booleans()):
        target += "?" + draw(st.sampled_from(["user_id=7", "user_id=..", "a=%00", "x" * 5000]))
    method = draw(_METHODS)
    auth = draw(st.sampled_from(creds.choices()))
    body = draw(st.sampled_from([b"", b"RIFF" + b"\0" * 60, b"{}"])) if method != "GET" else b""
    return raw("path", method, encode(target), auth, body)


_RANGES = st.one_of(
    st.sampled_from(
        [
            "bytes=0-",
            "bytes=0-0",
            "bytes=-1",
            "bytes=-0",
            "bytes=5-2",
            "bytes=0-99999999999999999999999",
            "bytes=99999999999999999999999-",
            "bytes=-99999999999999999999999",
            "bytes=a-b",
            "bytes=",
            "bytes",
            "bytes=-",
            "bytes=--1",
            "bytes=0-1,",
            "bytes=,,,",
            " bytes = 0 - 1 ",
            "BYTES=0-1",
            "items=0-1",
            "bytes=0-1;bytes=2-3",
            "bytes=\u00bd-1",
            "bytes=0-1,1-2,0-1,-5,3-",
        ]
    ),
    st.lists(st.tuples(st.integers(-5, 10**6), st.integers(-5, 10**6)), max_size=60).map(
        lambda pairs: "bytes=" + ",".join(f"{a}-{b}" for a, b in pairs)
    ),
    st.integers(1, 5000).map(lambda n: "bytes=" + ",".join(["0-0"] * n)),
    st.text(max_size=40).map(lambda s: "bytes=" + s),
)
_CONDITIONS = st.sampled_from(
    [
        ("If-Range", "ETAG"),
        ("If-Range", '"nope"'),
        ("If-Range", 'W/"ETAG"'),
        ("If-Range", "Sat, 29 Oct 1994 19:43:31 GMT"),
        ("If-Range", "Mon, 01 Jan 3000 00:00:00 GMT"),
        ("If-Range", "garbage\u00ff"),
        ("If-None-Match", "ETAG"),
        ("If-None-Match", "*"),
        ("If-None-Match", '"' * 3000),
        ("If-Modified-Since", "yesterday"),
        ("If-Modified-Since", "Sat, 29 Oct 99999 19:43:31 GMT"),
        ("Accept-Encoding", "gzip;q=2, *;q=-1"),
    ]
)


@st.composite
def ranges(draw: st.DrawFn, creds: Creds) -> Raw:
    suffix = draw(st.sampled_from(["/raw", "/raw", "/download", "/peaks"]))
    target = MEDIA.format(rec=creds.rec, media=creds.media) + suffix
    if draw(st.booleans()):
        target = f"/recordings/{creds.rec}/master"
    headers = _auth(draw, creds, [creds.user])
    if suffix == "/raw" and draw(st.booleans()):
        target += "?" + draw(st.sampled_from([creds.signed, creds.signed.replace("sig=", "sig=0")]))
    headers["Range"] = draw(_RANGES)
    for name, value in draw(st.lists(_CONDITIONS, max_size=3)):
        headers[name] = value.replace("ETAG", creds.etag.strip('"'))
    method = draw(st.sampled_from(["GET", "GET", "HEAD"]))
    return raw("range", method, encode(target), headers)


_HEADER_VALUES = st.one_of(
    st.sampled_from(
        ["", "true", "TRUE", "1", "yes", "no", "maybe", "0" * 64, "f" * 64, "x" * 9000]
    ),
    st.text(max_size=20),
)
_CONTENT_TYPES = st.sampled_from(
    [
        "audio/wav",
        "audio/webm",
        "video/webm",
        "audio/webm;codecs=opus",
        "audio/wav; charset=\u00ff",
        "text/plain",
        "",
        "multipart/form-data",
        "application/json",
        "audio/" + "x" * 5000,
    ]
)


@st.composite
def chunk_puts(draw: st.DrawFn, creds: Creds) -> Raw:
    uid = draw(st.sampled_from([creds.session, f"{MARK}-{draw(st.integers(0, 30))}"]))
    seq = draw(st.sampled_from(["0", "1", "2", "-1", "9999999999", "10000000000", "3000000", "07"]))
    body = draw(st.sampled_from([WAV, WAV, b"", b"RIFF" + bytes(40), bytes(range(256)) * 4]))
    headers = _auth(draw, creds, creds.recorders)
    headers["Content-Type"] = draw(_CONTENT_TYPES)
    for name in draw(st.lists(st.sampled_from(["X-Final", "X-Content-SHA256"]), max_size=2)):
        headers[name] = draw(_HEADER_VALUES)
    length = len(body) + draw(st.sampled_from([0, 0, 0, -1, 1, 100, -len(body), 10**12]))
    headers["Content-Length"] = str(max(length, 0))
    query = draw(st.sampled_from(["", "?user_id=7", "?user_id=8", "?user_id=-1", "?user_id=a"]))
    target = f"/ingest/sessions/{uid}/audio/chunks/{seq}{query}"
    return raw("chunk", "PUT", encode(target), headers, body, length > len(body))


def _part(name: str, value: bytes, filename: str | None = None, ctype: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"Content-Disposition: {disposition}\r\n" + (
        f"Content-Type: {ctype}\r\n" if ctype else ""
    )
    return encode(head) + b"\r\n" + value


@st.composite
def multiparts(draw: st.DrawFn, creds: Creds) -> Raw:
    good = ["b0undary"] * 4
    boundary = draw(st.sampled_from([*good, "x" * 200, "", "a b", "\u00ff", "--", "b;c"]))
    declared = draw(st.sampled_from([boundary] * 4 + ["other", None]))
    uid = f"{MARK}-mp{draw(st.integers(0, 20))}"
    fields = [
        ("session_uid", draw(st.sampled_from([uid, uid, "../" + MARK, creds.session]))),
        ("user_id", draw(st.sampled_from(["7", "7", "-1", "1e400", "9" * 5000]))),
        ("chunk_seq", draw(st.sampled_from(["0", "1", "2", "-1", "9999999999"]))),
        ("is_final", draw(st.sampled_from(["false", "false", "true", "maybe"]))),
        (
            "metadata",
            draw(st.sampled_from(['{"x": 1}', '{"x": 1}', "[" * 5000, "{", '{"a":1,"a":2}'])),
        ),
        ("format", draw(st.sampled_from(["wav", "wav", "webm", "../../" + MARK, "exe"]))),
    ]
    fields = draw(st.lists(st.sampled_from(fields), unique=True, min_size=3, max_size=6))
    parts = [_part(n, encode(v)) for n, v in fields]
    many = draw(st.sampled_from([0, 0, 70, 2000]))
    parts += [_part(f"f{i}", b"v") for i in range(many)]
    if draw(st.integers(0, 3)) == 0:
        big = draw(st.sampled_from([1, 1, 70_000, 70_000, 1_100_000]))
        parts.append(_part("huge", b"h" * big))
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        name = draw(st.sampled_from(["../../" + MARK, MARK + "\x00.wav", "a.wav", ""]))
        content = draw(st.sampled_from([WAV, WAV, b"RIFF" + bytes(60)]))
        parts.append(_part("file", content, name, "audio/wav"))
    sep = b"--" + encode(boundary)
    body = b"".join(sep + b"\r\n" + p + b"\r\n" for p in parts)
    body += draw(st.sampled_from([sep + b"--\r\n"] * 3 + [b"", sep, b"garbage"]))
    ctype = "multipart/form-data" + ("" if declared is None else f"; boundary={declared}")
    headers = _auth(draw, creds, creds.recorders)
    headers["Content-Type"] = ctype
    return raw("multipart", "POST", b"/internal/recordings/upload", headers, body)


def _deep(n: int) -> str:
    return "[" * n + "]" * n


_JSON_TEXTS = st.one_of(
    st.integers(1, 100_000).map(_deep),
    st.integers(1, 5000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(
        [
            '{"meeting_id": 1e400}',
            '{"meeting_id": ' + "9" * 5000 + "}",
            '{"meeting_id": -0.0, "session_uid": null}',
            '{"meeting_id": NaN, "expires_at": Infinity}',
            '{"session_uid": "a", "session_uid": "' + MARK + '"}',
            '{"session_uid": "../../' + MARK + '", "user_id": 7, "meeting_id": 1}',
            '{"expires_at": "9999-12-31T23:59:59Z"}',
            '{"expires_at": "0001-01-01T00:00:00+14:00"}',
            '{"expires_at": "2026-13-45T25:61:61"}',
            '{"retain": ["forever"]}',
            '{"retain": "forever", "expires_at": "2030-01-01T00:00:00Z"}',
            '{"url": "http://127.0.0.1:1/", "events": "all"}',
            '{"url": "file:///etc/passwd"}',
            '{"user_id": true}',
            '{"user_id": 1.5}',
            '"\\ud800"',
            "\ufeff{}",
            "{\x00}",
            "null",
            "[]",
            "",
            '{"a": "' + "x" * 70_000 + '"}',
        ]
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=20,
    ).map(json.dumps),
)
_JSON_TARGETS = [
    ("POST", "/recordings", "user"),
    ("PATCH", "/recordings/REC", "user"),
    ("POST", "/internal/sessions", "secret"),
    ("POST", "/admin/users/7/webhooks", "admin"),
    ("POST", "/admin/recordings/REC/owner", "admin"),
    ("POST", "/ingest/sessions/SESSION/finalize", "recorder"),
]


@st.composite
def jsons(draw: st.DrawFn, creds: Creds) -> Raw:
    method, target, who = draw(st.sampled_from(_JSON_TARGETS))
    target = target.replace("REC", str(creds.rec)).replace("SESSION", creds.session)
    right = {
        "user": [creds.user],
        "secret": creds.recorders[:1],
        "admin": [{"X-Admin-API-Key": creds.admin}],
        "recorder": creds.recorders,
    }
    headers = _auth(draw, creds, right[who])
    headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain", ""]))
    body = encode(draw(_JSON_TEXTS))
    if draw(st.integers(0, 9)) == 0:
        body = body[: len(body) // 2] + b"\xff\xfe" + body[len(body) // 2 :]
    return raw("json", method, encode(target), headers, body)


def raw(
    kind: str,
    method: str,
    target: bytes,
    headers: dict[str, str],
    body: bytes = b"",
    half_close: bool = False,
) -> Raw:
    named = {k.lower(): v for k, v in headers.items()}
    named.setdefault("content-length", str(len(body)))
    if method in ("GET", "HEAD") and not body and "content-length" not in headers:
        named.pop("content-length")
    named["host"] = "127.0.0.1"
    named["connection"] = "close"
    pairs = tuple((encode(k), encode(v)) for k, v in named.items())
    return Raw(kind, method, target, pairs, body, half_close)


# --- the sender ----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: the connection closed without an answer
    seconds: float


async def send(port: int, request: Raw, limit: float) -> Answer | None:
    """Send one request on a new connection and read the whole answer; None if it took longer
    than `limit` seconds (a hang)."""
    started = anyio.current_time()
    with anyio.move_on_after(limit):
        try:
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                head = b"%s %s HTTP/1.1\r\n" % (request.method.encode(), request.target)
                head += b"".join(b"%s: %s\r\n" % pair for pair in request.headers) + b"\r\n"
                await stream.send(head + request.body)
                if request.half_close:
                    await stream.send_eof()
                received = await _read_all(stream)
        except (OSError, anyio.BrokenResourceError, anyio.EndOfStream):
            received = b""
        return Answer(_status(received), anyio.current_time() - started)
    return None


async def _read_all(stream: Any) -> bytes:
    blocks = []
    try:
        while True:
            blocks.append(await stream.receive(65536))
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        pass
    return b"".join(blocks)


def _status(received: bytes) -> int:
    line = received.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0
