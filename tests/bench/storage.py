"""Storage throughput per backend: one 64 MiB put and one get (`python -m tests.bench.storage`).

A quick look, not a comparison: local (fsync on and off), SeaweedFS and moto, on loopback.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from lite.settings import load_settings
from lite.storage.factory import open_storage
from tests.servers import SeaweedServer, make_bucket
from tests.stores import s3_env

SIZE = 64 * 2**20
PIECE = 256 * 1024


async def _pieces(payload: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(payload), PIECE):
        yield payload[offset : offset + PIECE]


async def measure(name: str, env: dict[str, str], payload: bytes) -> str:
    storage = await open_storage(load_settings(env))
    try:
        started = time.perf_counter()
        await storage.put("bench/object", _pieces(payload))
        put = time.perf_counter() - started
        started = time.perf_counter()
        reader = await storage.open_range("bench/object")
        received = 0
        try:
            async for block in reader:
                received += len(block)
        finally:
            await reader.aclose()
        get = time.perf_counter() - started
    finally:
        await storage.aclose()
    assert received == len(payload)
    return (
        f"{name:16s} put {len(payload) / put / 1e6:7,.0f} MB/s   get {SIZE / get / 1e6:7,.0f} MB/s"
    )


def main() -> None:
    from moto.server import ThreadedMotoServer

    payload = os.urandom(SIZE)
    work = Path(tempfile.mkdtemp(dir="/var/tmp"))
    local = {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(work / "fsync")}
    print(asyncio.run(measure("local, fsync", local, payload)))
    nofsync = {**local, "LOCAL_STORAGE_DIR": str(work / "nofsync"), "LOCAL_STORAGE_FSYNC": "false"}
    print(asyncio.run(measure("local, no fsync", nofsync, payload)))
    seaweed = SeaweedServer(work).start()
    try:
        env = s3_env(seaweed.endpoint, make_bucket(seaweed.endpoint))
        print(asyncio.run(measure("SeaweedFS", env, payload)))
    finally:
        seaweed.stop()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        print(asyncio.run(measure("moto", s3_env(endpoint, make_bucket(endpoint)), payload)))
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
