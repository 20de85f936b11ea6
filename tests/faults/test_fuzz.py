"""Fuzzing a real server with a fixed seed: every OpenAPI operation through schemathesis (as drawn,
and again with each way of signing in), then hand-built hostile paths, Range headers, chunk
uploads, multipart forms and JSON bodies (tests/faults/fuzzkit.py). No answer may be a 5xx, none
may take over 5 s, and nothing may be written outside the store."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.faults import fuzzkit
from tests.faults.conftest import Figures
from tests.faults.fuzzkit import MARK, Creds, Raw
from tests.playkit import ADMIN_TOKEN, INTERNAL_SECRET, OTHER_USER, Deployment, deploy, wav_upload
from tests.vexa.botkit import mint_meeting_token

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

SEED = 20261128
TOTAL = int(os.environ.get("LITE_FAULT_FUZZ", "10000"))  # requests, at least
SCHEMA_EXAMPLES = 12  # per operation and generation mode; each sent once per credential tried
HANG_SECONDS = 5.0
CLIENTS = 12
T = TypeVar("T")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Deployment]:
    (tmp_path / "apptmp").mkdir()
    with deploy(
        "local", tmp_path, LOCAL_STORAGE_FSYNC="false", TMPDIR=str(tmp_path / "apptmp")
    ) as deployment:
        yield deployment


def credentials(site: Deployment) -> Creds:
    media = site.add("fuzz", wav_upload(1.0, 2))
    signed = site.playable_url(media).split("?", 1)[1]
    made = site.http.post("/recordings", json={"session_uid": f"{MARK}-token"}, headers=site.auth())
    assert made.status_code == 201, made.text
    return Creds(
        api_key=site.key,
        other_key=site.create_key(OTHER_USER),
        admin=ADMIN_TOKEN,
        secret=INTERNAL_SECRET,
        upload_token=made.json()["upload_token"],
        meeting_token=mint_meeting_token(1, 7, INTERNAL_SECRET),
        rec=media.recording_id,
        media=media.media_id,
        session=f"{MARK}-token",
        etag=media.etag,
        signed=signed,
    )


def draw(strategy: st.SearchStrategy[T], count: int, salt: int, emit: Callable[[T], None]) -> None:
    """`count` examples of `strategy`, the same ones on every run."""

    @seed(SEED + salt)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        emit(example)

    collect()


def schema_requests(document: dict[str, Any], creds: Creds, emit: Callable[[Raw], None]) -> int:
    """schemathesis' cases for every operation (valid and invalid), each sent as drawn and with
    one of the credentials in turn; how many were sent."""
    schema = schemathesis.openapi.from_dict(document)
    choices = creds.choices()
    sent = 0

    def each(case: Any) -> None:
        nonlocal sent
        kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1")
        for extra in ({}, choices[sent % len(choices)]):
            built = _as_raw(kwargs, extra)
            if built is not None:
                emit(built)
                sent += 1

    for salt, result in enumerate(schema.get_all_operations()):
        operation = result.ok()  # type: ignore[union-attr]  # an invalid document fails here
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                draw(operation.as_strategy(mode), SCHEMA_EXAMPLES, salt, each)
            except Unsatisfiable:
                continue  # no invalid input for an operation without parameters
    return sent


def _as_raw(kwargs: dict[str, Any], extra: dict[str, str]) -> Raw | None:
    files = kwargs.get("files")
    if files:
        files = [
            (n, tuple(v if isinstance(v, bytes | None) else str(v) for v in f)) for n, f in files
        ]
    data = kwargs.get("data")
    try:
        request = httpx.Request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers={**kwargs.get("headers", {}), **extra},
            json=kwargs.get("json"),
            content=data if isinstance(data, bytes | str) else None,
            data=data if isinstance(data, dict) else None,
            files=files or None,
        )
        body = request.read()
    except (TypeError, ValueError, UnicodeError):
        return None  # not expressible as HTTP (a header value outside latin-1, say)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
    return fuzzkit.raw("schema", request.method, request.url.raw_path, headers, body)


def hand_built(creds: Creds, count: int, emit: Callable[[Raw], None]) -> None:
    makers: list[Callable[[Creds], st.SearchStrategy[Raw]]] = [
        fuzzkit.paths,
        fuzzkit.ranges,
        fuzzkit.chunk_puts,
        fuzzkit.multiparts,
        fuzzkit.jsons,
    ]
    share = max(-(-count // len(makers)), 1)
    for salt, make in enumerate(makers):
        draw(make(creds), share, 1000 + salt, emit)


def produce(document: dict[str, Any], creds: Creds, emit: Callable[[Raw], None]) -> None:
    """Every request, drawn in one thread (hypothesis is not thread-safe) while they are sent."""
    hand_built(creds, TOTAL - schema_requests(document, creds, emit), emit)


@dataclass
class Run:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)  # closed without an answer
    slowest: float = 0.0


async def fire(port: int, producer: Callable[[Callable[[Raw], None]], None]) -> Run:
    run = Run()
    send, receive = anyio.create_memory_object_stream[Raw](CLIENTS * 4)

    def emit(request: Raw) -> None:
        anyio.from_thread.run(send.send, request)

    async def produce_all() -> None:
        async with send:
            await anyio.to_thread.run_sync(producer, emit)

    async def client() -> None:
        async for request in receive:
            answer = await fuzzkit.send(port, request, HANG_SECONDS)
            run.sent[request.kind] += 1
            shown = f"{request.kind} {request.method} {request.target[:120]!r}"
            if answer is None:
                run.hangs.append(shown)
                continue
            run.statuses[answer.status] += 1
            run.dropped[request.kind] += answer.status == 0
            run.slowest = max(run.slowest, answer.seconds)
            if answer.status >= 500:
                run.server_errors.append(f"{answer.status} {shown} {request.headers[:6]!r}")

    async with receive, anyio.create_task_group() as group:
        group.start_soon(produce_all)
        for _ in range(CLIENTS):
            group.start_soon(client)
    return run


def server_errors_counted(metrics: str) -> int:
    pattern = re.compile(r'^lite_http_requests_total\{.*status="5\d\d".*\} (\S+)$', re.M)
    return sum(int(float(n)) for n in pattern.findall(metrics))


def outside_the_store(workdir: Path, mark: str = MARK) -> list[str]:
    """Files the app left outside its store: anything in its TMPDIR, anything new in its working
    directory, and any file named with `mark` under /tmp or around the working directory."""
    store = workdir / "recordings"
    found = [str(p) for p in (workdir / "apptmp").rglob("*")]
    expected = {"recordings", "apptmp"}
    found += [
        str(p) for p in workdir.iterdir() if p.name not in expected and not p.name.endswith(".log")
    ]
    for top in {Path("/tmp"), workdir.parent, workdir.parent.parent}:
        for root, dirs, names in os.walk(top):
            here = Path(root)
            if here == store or store in here.parents or len(here.parts) - len(top.parts) > 4:
                dirs.clear()
                continue
            found += [str(here / n) for n in names + dirs if mark in n]
    return sorted(set(found))


async def test_fuzz(site: Deployment, figures: Figures) -> None:
    creds = credentials(site)
    document = site.http.get("/openapi.json").json()
    started = time.monotonic()
    port = int(site.url.rsplit(":", 1)[1])
    run = await fire(port, partial(produce, document, creds))
    took = time.monotonic() - started
    await anyio.sleep(0.5)  # a request's spooled form is removed as it ends
    counted = server_errors_counted(site.http.get("/metrics").text)
    outside = outside_the_store(site.workdir)
    tracebacks = site.server.log().count("Traceback")
    total = sum(run.sent.values())
    figures.record(
        "fuzz",
        requests=total,
        schema=run.sent["schema"],
        paths=run.sent["path"],
        ranges=run.sent["range"],
        chunks=run.sent["chunk"],
        multipart=run.sent["multipart"],
        json=run.sent["json"],
        server_errors=len(run.server_errors),
        counted_5xx=counted,
        hangs_over_5s=len(run.hangs),
        dropped=sum(run.dropped.values()),
        files_outside_store=len(outside),
        slowest_s=run.slowest,
        seconds=took,
    )
    assert total >= TOTAL
    assert not run.server_errors, run.server_errors[:20]
    assert not run.hangs, run.hangs[:20]
    assert counted == 0 and tracebacks == 0, site.server.log()[-5000:]
    assert not outside, outside[:20]


def test_the_outside_check_finds_files(tmp_path: Path) -> None:
    """The check above can fail: a spooled file left in TMPDIR, a stray file in the working
    directory and a file named with MARK next to it are all found; the store is not."""
    mark = f"{MARK}-selftest"  # the fuzz run's own files, in its store nearby, are not planted
    for name in ("apptmp", "recordings/1"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "recordings" / "1" / mark).write_bytes(b"in the store")
    assert outside_the_store(tmp_path, mark) == []
    planted = [tmp_path / "apptmp" / "spool", tmp_path / "stray", tmp_path.parent / f"{mark}-x"]
    try:
        for path in planted:
            path.write_bytes(b"x")
        assert outside_the_store(tmp_path, mark) == sorted(str(p) for p in planted)
    finally:
        planted[2].unlink()
