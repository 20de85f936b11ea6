"""The S3 call slots: a burst waits for a connection; failures in a row refuse queued callers."""

from __future__ import annotations

import anyio
import pytest

from lite.storage.base import Unavailable
from lite.storage.s3pool import TROUBLE_AFTER, CallSlots

pytestmark = pytest.mark.anyio


async def fail(slots: CallSlots) -> None:
    with pytest.raises(Unavailable):
        async with slots.slot():
            raise Unavailable("down")


async def test_a_burst_waits_for_a_slot_instead_of_failing() -> None:
    slots, done = CallSlots(2), []

    async def call(n: int) -> None:
        async with slots.slot():
            await anyio.sleep(0.01)
            done.append(n)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(call, n)
    assert sorted(done) == list(range(20))


async def test_one_failure_between_successes_does_not_refuse_anyone() -> None:
    slots = CallSlots(4)
    for _ in range(5):
        await fail(slots)
        async with slots.slot():
            pass
    async with slots.slot():
        pass


async def test_failures_in_a_row_refuse_queued_callers_at_once() -> None:
    slots = CallSlots(4)
    for _ in range(TROUBLE_AFTER):
        await fail(slots)
    with pytest.raises(Unavailable, match="failing"):
        async with slots.slot():
            pass
