"""The master finalize writes: the assembly plan, with WebM made seekable (Duration, Cues,
SeekHead; see lite/webmmaster.py). Two passes over the chunks: this one reads every chunk once to
learn the layout, the write copies the Clusters from the chunk objects."""

from __future__ import annotations

import bisect

from lite.assemble import Plan, Segment, make_plan
from lite.chunks import ChunkObject
from lite.ebml import EbmlError
from lite.storage.base import Storage
from lite.webmmaster import layout
from lite.webmscan import WebmScanner


async def make_master_plan(
    storage: Storage, chunks: list[ChunkObject], *, wav_gap_fill: bool = True
) -> Plan:
    """The plan finalize writes: `make_plan`, with WebM rewritten to be seekable (two passes:
    this one reads every chunk once to learn the layout, the write copies the Clusters)."""
    plan = await make_plan(storage, chunks, wav_gap_fill=wav_gap_fill)
    if plan.ext == "webm" and plan.playable:
        await _make_seekable(storage, [c for c in chunks if c.info.size > 0], plan)
    return plan


async def _make_seekable(storage: Storage, chunks: list[ChunkObject], plan: Plan) -> None:
    scanner = WebmScanner()
    try:
        for chunk in chunks:
            reader = await storage.open_range(chunk.info.key)
            try:
                async for block in reader:
                    scanner.feed(block)
            finally:
                await reader.aclose()
        scan = scanner.finish()
        pieces = layout(scan)
    except EbmlError as exc:
        plan.problems.append(f"WebM kept as recorded, without duration or seek index: {exc}")
        return
    starts, offset = [], 0
    for chunk in chunks:
        starts.append(offset)
        offset += chunk.info.size
    segments: list[Segment] = []
    for piece in pieces:
        if piece.data:
            segments.append(Segment(data=piece.data))
        else:
            segments.extend(_ranges(chunks, starts, piece.start, piece.end))
    plan.segments = segments
    plan.duration_seconds = round(scan.duration_seconds, 6)
    plan.problems.extend(scan.problems)


def _ranges(chunks: list[ChunkObject], starts: list[int], start: int, end: int) -> list[Segment]:
    """Bytes [start, end) of the chunks joined in seq order, as ranges of chunk objects."""
    found = []
    first = bisect.bisect_right(starts, start) - 1
    for index in range(first, len(chunks)):
        lo, size = starts[index], chunks[index].info.size
        if lo >= end:
            break
        a, b = max(start, lo), min(end, lo + size)
        if b > a:
            found.append(Segment(key=chunks[index].info.key, start=a - lo, length=b - a))
    return found
