"""Slow clients, run as their own process so their sockets and event loop do not share the
measuring client's: `python -m tests.faults.slowclients HOST PORT SECONDS SLOWLORIS UPLOADS`.

A slowloris connection sends a request head one byte per interval and, once the server closes it,
connects again; a slow upload sends a valid chunk's headers, then its body one byte per interval.
Prints one JSON object of counts when the time is up.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid
from collections import Counter

INTERVAL = 1.0  # seconds between an upload's bytes
LORIS_INTERVAL = 2.0  # and a slowloris head's, as in the probe that found the outage
SECRET = "test-internal-secret"  # tests.ingestkit.SECRET; this process imports nothing of tests


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def slowloris(host: str, port: int, until: float, counts: Counter[str]) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100_000
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            counts["slowloris_connect_failed"] += 1
            await asyncio.sleep(LORIS_INTERVAL)
            continue
        counts["slowloris_connected"] += 1
        closed = await _trickle(reader, writer, head, until, LORIS_INTERVAL)
        counts["slowloris_closed_by_server" if closed else "slowloris_open_at_end"] += 1
        writer.close()
        await asyncio.sleep(
            LORIS_INTERVAL
        )  # like slowloris.py: dropped sockets are replaced each round


async def _trickle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    data: bytes,
    until: float,
    interval: float = INTERVAL,
) -> bool:
    """Send data a byte per interval until the time is up; True if the server closed first."""
    for byte in data:
        if time.monotonic() >= until:
            return False
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(4096), interval)
        except TimeoutError:
            continue
        except OSError:
            return True
        if not answer or answer.startswith(b"HTTP/1.1 "):
            return True  # closed, or answered (a 503 at the cap, a 408) before closing
    return False


async def slow_upload(host: str, port: int, until: float, counts: Counter[str]) -> None:
    body = b"\0" * 600  # more than the run lasts at a byte per interval
    head = (
        f"PUT /ingest/sessions/s-{uuid.uuid4().hex}/audio/chunks/0?user_id=77 HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: audio/wav\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        counts["uploads_connect_failed"] += 1
        return
    writer.write(head)
    closed = await _trickle(reader, writer, body, until)
    counts["uploads_closed_by_server" if closed else "uploads_open_at_end"] += 1
    writer.close()


async def main(host: str, port: int, seconds: float, loris: int, uploads: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    until = time.monotonic() + seconds
    uploading = [
        asyncio.create_task(slow_upload(host, port, until, counts)) for _ in range(uploads)
    ]
    await asyncio.sleep(INTERVAL)  # the uploads are under way when the slowloris starts
    await asyncio.gather(*(slowloris(host, port, until, counts) for _ in range(loris)))
    await asyncio.gather(*uploading)
    return counts


if __name__ == "__main__":
    host, port, seconds, loris, uploads = sys.argv[1:6]
    raise_nofile(int(loris) + int(uploads) + 100)
    found = asyncio.run(main(host, int(port), float(seconds), int(loris), int(uploads)))
    print(json.dumps(dict(found)))
