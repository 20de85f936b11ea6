"""Helpers for the ingest tests: a recorder that speaks Vexa's bot wire format, the raw chunk door
and expected masters built without `lite`'s assembler. Stores, and a view of what they hold that
does not go through the storage adapter under test, come from tests/stores.py.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx

from tests.mediafiles import make_wav, read_wav, wav_from_pcm

SECRET = "test-internal-secret"
ADMIN = "test-admin-token"
T = TypeVar("T")


def app_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """A server's environment: recorder secret, admin token, no background reconciler."""
    return {
        "INTERNAL_API_SECRET": SECRET,
        "ADMIN_API_TOKEN": ADMIN,
        "LITE_RECONCILE_INTERVAL_SECONDS": "0",
        **base,
        **extra,
    }


def new_uid() -> str:
    return f"s-{uuid.uuid4().hex}"


def new_user() -> int:
    """A user id nobody else on a shared store uses."""
    return 1000 + secrets.randbelow(10**12)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- media --------------------------------------------------------------------------------------


def wav_chunks(
    count: int, seconds: float = 0.05, rate: int = 16000, channels: int = 1, seed: int = 0
) -> list[bytes]:
    """`count` complete WAV files (stdlib `wave`), each with distinct samples."""
    return [make_wav(seconds, rate, channels, seed=seed + i) for i in range(count)]


def wav_master(chunks: list[bytes]) -> bytes:
    """What the master must be: one stdlib-written WAV holding every chunk's frames in order."""
    params = None
    frames = []
    for data in chunks:
        if not data:
            continue
        got, pcm = read_wav(data)
        params = params or got
        frames.append(pcm)
    assert params is not None
    return wav_from_pcm(b"".join(frames), params.framerate, params.nchannels, params.sampwidth)


def canonical_wav_header(data_size: int, rate: int, channels: int, sampwidth: int) -> bytes:
    """The 44-byte PCM header (RIFF, fmt of 16 bytes, data), written out field by field."""
    block = channels * sampwidth
    return b"".join(
        (
            struct.pack("<4sI4s", b"RIFF", 36 + data_size + (data_size & 1), b"WAVE"),
            struct.pack(
                "<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, rate * block, block, 8 * sampwidth
            ),
            struct.pack("<4sI", b"data", data_size),
        )
    )


def byte_slices(data: bytes, count: int) -> list[bytes]:
    """`data` cut into `count` nearly equal consecutive slices (the first keeps the file header)."""
    size = -(-len(data) // count)
    return [data[i * size : (i + 1) * size] for i in range(count)]


# --- Vexa's bot on the wire ---------------------------------------------------------------------


def vexa_form(
    *,
    session_uid: str,
    seq: int | str,
    data: bytes | None,
    fmt: str = "wav",
    is_final: bool = False,
    meeting_id: int = 42,
    user_id: int | None = None,
    sample_rate: int = 16000,
    channels: int = 1,
    duration_seconds: float | None = None,
    metadata: Mapping[str, Any] | str | None = None,
    flat: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """(body, content type) byte for byte like Vexa's bot builds its upload by hand.

    A `metadata` JSON part (application/json), the flat `chunk_seq` and `is_final` fields, then
    the file part `recording.{seq}.{fmt}` as `audio/{fmt}`. `user_id` is the extra field the
    internal secret needs. `metadata`/`flat` replace those parts for malformed-input tests;
    `data=None` leaves the file part out.
    """
    boundary = f"----VexaRecording{uuid.uuid4().int % 10**13}"
    if metadata is None:
        metadata = {
            "meeting_id": meeting_id,
            "session_uid": session_uid,
            "format": fmt,
            "sample_rate": sample_rate,
            "channels": channels,
            "duration_seconds": duration_seconds,
            "file_size_bytes": len(data or b""),
            "chunk_seq": seq,
            "is_final": is_final,
        }
    text = metadata if isinstance(metadata, str) else json.dumps(metadata)
    fields = {"chunk_seq": str(seq), "is_final": "true" if is_final else "false"}
    if user_id is not None:
        fields["user_id"] = str(user_id)
    if flat is not None:
        fields = dict(flat)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
        f"Content-Type: application/json\r\n\r\n{text}\r\n".encode()
    ]
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    if data is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="recording.{seq}.{fmt}"\r\nContent-Type: audio/{fmt}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def bearer(token: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class VexaBot:
    """One recording session as Vexa's bot sends it: a chunk at a time, then an empty final."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        session_uid: str,
        user_id: int,
        fmt: str = "wav",
        token: str = SECRET,
    ) -> None:
        self.http = http
        self.session_uid = session_uid
        self.user_id = user_id
        self.fmt = fmt
        self.token = token

    async def send(self, seq: int, data: bytes, *, is_final: bool = False) -> httpx.Response:
        body, content_type = vexa_form(
            session_uid=self.session_uid,
            seq=seq,
            data=data,
            fmt=self.fmt,
            is_final=is_final,
            user_id=self.user_id,
            duration_seconds=0.0 if not data else None,
        )
        headers = {**bearer(self.token), "Content-Type": content_type}
        return await self.http.post("/internal/recordings/upload", content=body, headers=headers)

    async def record(self, chunks: list[bytes]) -> list[httpx.Response]:
        """Every chunk one at a time, then the empty final chunk at seq len(chunks)."""
        answers = [await self.send(seq, data) for seq, data in enumerate(chunks)]
        answers.append(await self.send(len(chunks), b"", is_final=True))
        return answers


async def post_form(
    http: httpx.AsyncClient, body: bytes, content_type: str, token: str | None = SECRET
) -> httpx.Response:
    headers = {"Content-Type": content_type, **(bearer(token) if token is not None else {})}
    return await http.post("/internal/recordings/upload", content=body, headers=headers)


async def put_chunk(
    http: httpx.AsyncClient,
    session_uid: str,
    seq: int | str,
    data: Any,
    *,
    user_id: int | None = None,
    token: str | None = SECRET,
    content_type: str = "audio/wav",
    media_type: str = "audio",
    final: bool = False,
    digest: str | None = None,
) -> httpx.Response:
    """The raw door: PUT one chunk's bytes (or an async iterator: chunked transfer)."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers.update(bearer(token))
    if final:
        headers["X-Final"] = "true"
    if digest is not None:
        headers["X-Content-SHA256"] = digest
    params = {"user_id": str(user_id)} if user_id is not None else {}
    url = f"/ingest/sessions/{session_uid}/{media_type}/chunks/{seq}"
    return await http.put(url, content=data, headers=headers, params=params)


async def session_status(
    http: httpx.AsyncClient, session_uid: str, user_id: int | None, token: str = SECRET
) -> httpx.Response:
    params = {"user_id": str(user_id)} if user_id is not None else {}
    return await http.get(f"/ingest/sessions/{session_uid}", headers=bearer(token), params=params)


async def finalize(
    http: httpx.AsyncClient, session_uid: str, user_id: int | None, token: str = SECRET
) -> httpx.Response:
    params = {"user_id": str(user_id)} if user_id is not None else {}
    url = f"/ingest/sessions/{session_uid}/finalize"
    return await http.post(url, headers=bearer(token), params=params)


async def api_key(http: httpx.AsyncClient, user_id: int) -> str:
    answer = await http.post(f"/admin/users/{user_id}/api-keys", headers={"X-Admin-API-Key": ADMIN})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float, interval: float = 0.2
) -> T:
    """The first truthy result of `probe`, polled until `within` seconds have passed."""
    with anyio.fail_after(within):
        while True:
            found = await probe()
            if found:
                return found
            await anyio.sleep(interval)


def chunk_keys(keys: list[str], session_uid: str, media_type: str = "audio") -> list[str]:
    return [k for k in keys if f"/{session_uid}/{media_type}/chunks/" in k]


async def to_thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)
