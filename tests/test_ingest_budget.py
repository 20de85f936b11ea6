"""The chunk memory budget (LITE_CHUNK_MEMORY_BYTES) over the wire: an upload that would hold more
chunk bytes in memory than the budget allows is answered 503 with Retry-After, before its body is
buffered, and leaves nothing behind; the upload holding the budget completes intact, and the
refused one is accepted when sent again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import pytest

from tests.ingestkit import (
    SECRET,
    app_env,
    bearer,
    chunk_keys,
    eventually,
    new_uid,
    new_user,
    post_form,
    put_chunk,
    session_status,
    sha,
    vexa_form,
)
from tests.mediafiles import make_wav
from tests.servers import app_server
from tests.stores import new_store

pytestmark = pytest.mark.anyio

BUDGET = 2_000_000
# Held while its body trickles in: longer than the local backend's write buffer (1 MiB), so its
# temp file appears once the first part has arrived: the sign that the server holds it.
HOLDER = make_wav(48.0)  # 1.5 MB
LATECOMER = make_wav(20.0, seed=1)  # 640 KB: does not fit beside it
FIRST_PART = 1_200_000


async def trickle(data: bytes, gate: anyio.Event) -> AsyncIterator[bytes]:
    """The first part at once, the rest when the gate opens."""
    yield data[:FIRST_PART]
    await gate.wait()
    yield data[FIRST_PART:]


async def in_pieces(data: bytes) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), 65536):
        yield data[pos : pos + 65536]


def doors(
    http: httpx.AsyncClient, user: int
) -> dict[str, Callable[[str], Awaitable[httpx.Response]]]:
    """The latecomer sent to a session of its own through each door."""

    def vexa(uid: str) -> Awaitable[httpx.Response]:
        body, ctype = vexa_form(session_uid=uid, seq=0, data=LATECOMER, user_id=user)
        return post_form(http, body, ctype)

    return {
        "put": lambda uid: put_chunk(http, uid, 0, LATECOMER, user_id=user),
        "put chunked": lambda uid: put_chunk(http, uid, 0, in_pieces(LATECOMER), user_id=user),
        "vexa": vexa,
    }


async def chunk_shas(http: httpx.AsyncClient, uid: str, user: int) -> list[str]:
    answer = await session_status(http, uid, user)
    assert answer.status_code == 200, answer.text
    return [c["sha256"] for c in answer.json()["media"]["audio"]["chunks"]]


@pytest.mark.parametrize("door", ["put", "put chunked", "vexa"])
async def test_a_full_budget_answers_503_with_retry_after_and_loses_nothing(
    tmp_path: Path, door: str
) -> None:
    with (
        new_store("local", tmp_path, LITE_CHUNK_MEMORY_BYTES=str(BUDGET)) as stored,
        app_server(app_env(stored.env), tmp_path) as server,
    ):
        store = stored.view
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            user, holder_uid, uid, gate = new_user(), new_uid(), new_uid(), anyio.Event()
            first = make_wav(0.5, seed=2)
            assert (await put_chunk(http, holder_uid, 0, first, user_id=user)).status_code == 201
            headers = {
                **bearer(SECRET),
                "Content-Type": "audio/wav",
                "Content-Length": str(len(HOLDER)),
            }
            url = f"/ingest/sessions/{holder_uid}/audio/chunks/1?user_id={user}"
            holder: list[httpx.Response] = []
            async with anyio.create_task_group() as group:

                async def hold() -> None:
                    answer = await http.put(url, content=trickle(HOLDER, gate), headers=headers)
                    holder.append(answer)

                group.start_soon(hold)
                await eventually(store.partials, within=20, interval=0.02)
                answer = await doors(http, user)[door](uid)
                gate.set()
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"].isdigit()
            assert answer.json()["error"]["code"] == "busy"
            # Nothing of the refused upload: no session, no chunk, no partial object.
            assert (await session_status(http, uid, user)).status_code == 404
            assert chunk_keys(await store.keys(f"recordings/{user}/"), uid) == []
            assert await store.partials() == []
            # The upload that held the budget is stored whole.
            assert holder[0].status_code == 201, holder[0].text
            assert await chunk_shas(http, holder_uid, user) == [sha(first), sha(HOLDER)]
            # With the budget free again, the refused chunk is accepted as sent.
            again = await doors(http, user)[door](uid)
            assert again.status_code == 201, again.text
            assert await chunk_shas(http, uid, user) == [sha(LATECOMER)]
