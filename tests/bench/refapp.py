"""Reference ASGI app for the benchmarks, run under the same Hypercorn as the service.

- `/file`: Starlette `FileResponse` of `$BENCH_FILE` with its default chunk size (64 KiB);
- `/file1m`: the same with 1 MiB chunks;
- `/mem64k`: 64 KiB of bytes held in memory: the server's own ceiling for a 64 KiB response;
- `PUT /sink/{rest}`: reads the request body and drops it: the server's own ceiling for ingest.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

FILE = os.environ.get("BENCH_FILE", "")
BODY = os.urandom(64 * 1024)
DEFAULT_CHUNK = FileResponse.chunk_size


class FileResponse1M(FileResponse):
    chunk_size = 1024 * 1024


async def file(request: Request) -> Response:
    return FileResponse(FILE, media_type="audio/wav")


async def file1m(request: Request) -> Response:
    return FileResponse1M(FILE, media_type="audio/wav")


async def mem64k(request: Request) -> Response:
    return Response(BODY, media_type="audio/wav")


async def sink(request: Request) -> Response:
    size = 0
    async for block in request.stream():
        size += len(block)
    return JSONResponse({"size": size}, status_code=201)


app = Starlette(
    routes=[
        Route("/file", file, methods=["GET", "HEAD"]),
        Route("/file1m", file1m, methods=["GET", "HEAD"]),
        Route("/mem64k", mem64k, methods=["GET", "HEAD"]),
        Route("/sink/{rest:path}", sink, methods=["PUT"]),
    ]
)
