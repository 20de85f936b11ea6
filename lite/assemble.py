"""Assembly plans: a media file described as segments (literal bytes or ranges of chunk objects).

One plan serves two uses: finalize streams it into the master object, and `/raw` of a recording
still in progress serves ranges of it directly from the chunks. Memory stays bounded: only
headers (a few KiB per chunk) are read to make a plan.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from lite import media, oggdur, wav
from lite.chunks import ChunkObject
from lite.storage.base import Composer, ObjectInfo, Piece, Storage

_FIRST_PROBE = 4096
_FILL_BLOCK = 64 * 1024


# A segment is literal bytes, a run of one repeated byte (silence) or a range of a chunk object.
Segment = Piece


@dataclass
class Plan:
    ext: str
    segments: list[Segment] = field(default_factory=list)
    duration_seconds: float | None = None
    problems: list[str] = field(default_factory=list)
    playable: bool = True

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)


async def _head(storage: Storage, chunk: ChunkObject, length: int) -> bytes:
    reader = await storage.open_range(chunk.info.key, 0, min(length, chunk.info.size) - 1)
    try:
        return b"".join([block async for block in reader])
    finally:
        await reader.aclose()


async def _ogg_duration(storage: Storage, chunk: ChunkObject) -> float | None:
    head = await _head(storage, chunk, oggdur.HEAD_BYTES)
    start = max(0, chunk.info.size - oggdur.TAIL_BYTES)
    reader = await storage.open_range(chunk.info.key, start, chunk.info.size - 1)
    try:
        tail = b"".join([block async for block in reader])
    finally:
        await reader.aclose()
    seconds = oggdur.duration_seconds(head, tail)
    return None if seconds is None else round(seconds, 6)


async def _wav_layout(storage: Storage, chunk: ChunkObject) -> wav.WavLayout:
    head = await _head(storage, chunk, _FIRST_PROBE)
    try:
        return wav.parse_wav_header(head, chunk.info.size)
    except wav.WavError:
        if len(head) >= chunk.info.size:
            raise
        # Long metadata chunks before `data`: look further, still bounded.
        head = await _head(storage, chunk, wav.HEADER_PROBE_BYTES)
        return wav.parse_wav_header(head, chunk.info.size)


async def _plan_wav(
    storage: Storage, chunks: list[ChunkObject], plan: Plan, gap_fill: bool, empty: set[int]
) -> None:
    first: wav.WavFormat | None = None
    payload: list[Segment] = []
    sizes = dict.fromkeys(empty, 0)  # seq -> payload bytes, to size the silence of a gap
    for chunk in chunks:
        try:
            layout = await _wav_layout(storage, chunk)
        except wav.WavError as exc:
            plan.problems.append(f"chunk {chunk.seq}: {exc}")
            plan.playable = False
            continue
        if first is None:
            first = layout.fmt
        elif layout.fmt != first:
            plan.problems.append(
                f"chunk {chunk.seq} is {layout.fmt.describe()}, not {first.describe()} "
                "like the first chunk: WAV chunks of different formats cannot be joined"
            )
            plan.playable = False
            continue
        sizes[chunk.seq] = layout.data_size
        if layout.data_size:
            payload.append(
                Segment(key=chunk.info.key, start=layout.data_offset, length=layout.data_size)
            )
    if first is None:
        plan.playable = False
        plan.problems.append("no WAV chunk could be read")
        return
    if gap_fill:
        payload = _fill_gaps(payload, sizes, first, chunks, plan)
    _frame_wav(plan, first, payload)


def _frame_wav(plan: Plan, fmt: wav.WavFormat, payload: list[Segment]) -> None:
    """One header before the payload (and the pad byte after an odd one)."""
    size = sum(s.length for s in payload)
    try:
        header = wav.build_wav_header(fmt, size)
    except wav.WavError as exc:  # e.g. a seq far beyond the others: its silence passes 4 GiB
        plan.problems.append(str(exc))
        plan.playable = False
        return
    plan.segments = [Segment(data=header), *payload]
    if wav.pad_byte_needed(size):
        plan.segments.append(Segment(data=b"\0"))
    plan.duration_seconds = round(wav.duration_seconds(fmt, size), 6)


def _fill_gaps(
    payload: list[Segment],
    sizes: dict[int, int],
    fmt: wav.WavFormat,
    chunks: list[ChunkObject],
    plan: Plan,
) -> list[Segment]:
    """Silence where a seq is missing, as long as its neighbours (the median of up to two on each
    side), so every later sample stays at its time in the meeting. A run of missing seqs is one
    segment and one problem line: its cost does not grow with the seq numbers a sender chose."""
    seq_of = {c.info.key: c.seq for c in chunks}
    present = sorted(sizes)
    filled: list[Segment] = []
    expected = 0
    for segment in payload:
        seq = seq_of[segment.key]
        for start, stop in _gap_runs(present, expected, seq):
            # Every seq of a run has the same neighbours, so the same gap size.
            each = wav.gap_size(fmt, _neighbour_sizes(present, sizes, start))
            if each:
                count = stop - start
                filled.append(Segment(fill=wav.silence_byte(fmt), length=each * count))
                seconds = wav.duration_seconds(fmt, each * count)
                seqs = f"seq {start}" if count == 1 else f"seqs {start}-{stop - 1}"
                plan.problems.append(f"{seqs} missing: {seconds:.1f} s of silence inserted")
        filled.append(segment)
        expected = seq + 1
    return filled


def _gap_runs(present: list[int], start: int, stop: int) -> Iterator[tuple[int, int]]:
    """The runs [a, b) of seqs from `start` to `stop` - 1 that are not in `present` (sorted)."""
    at = bisect.bisect_left(present, start)
    while start < stop:
        following = present[at] if at < len(present) and present[at] < stop else stop
        if following > start:
            yield start, following
        start, at = following + 1, at + 1


def _neighbour_sizes(present: list[int], sizes: dict[int, int], missing: int) -> list[int]:
    at = bisect.bisect_left(present, missing)
    near = present[max(0, at - 2) : at] + present[at : at + 2]
    return [sizes[seq] for seq in near if sizes[seq]]


async def _plan_concat(storage: Storage, chunks: list[ChunkObject], plan: Plan) -> None:
    if plan.ext == "webm" and not media.has_ebml_header(await _head(storage, chunks[0], 4)):
        plan.problems.append(
            f"the first WebM chunk (seq {chunks[0].seq}) has no EBML header: "
            "the file will not play from the start"
        )
        plan.playable = False
    plan.segments = [Segment(key=c.info.key, start=0, length=c.info.size) for c in chunks]


async def make_plan(
    storage: Storage, chunks: list[ChunkObject], *, wav_gap_fill: bool = True
) -> Plan:
    """How the media file is made from its chunks (empty chunks add nothing; a missing WAV
    seq becomes silence unless `wav_gap_fill` is off)."""
    nonempty = [c for c in chunks if c.info.size > 0]
    # An empty chunk (e.g. the bot's final marker) adds nothing, its format included.
    exts = sorted({c.ext for c in nonempty}) or sorted({c.ext for c in chunks})
    plan = Plan(ext=exts[0] if exts else "wav")
    if len(exts) > 1:
        plan.problems.append(f"chunks have different formats ({', '.join(exts)})")
        plan.playable = False
        return plan
    if not nonempty:
        plan.problems.append("no media data received")
        plan.playable = False
        return plan
    if plan.ext == "wav":
        empty = {c.seq for c in chunks if c.info.size == 0}
        await _plan_wav(storage, nonempty, plan, wav_gap_fill, empty)
    elif media.is_concatenable(plan.ext) or len(nonempty) == 1:
        await _plan_concat(storage, nonempty, plan)
        if plan.ext in ("ogg", "opus"):
            plan.duration_seconds = await _ogg_duration(storage, nonempty[0])
    else:
        plan.problems.append(
            f"{len(nonempty)} {plan.ext} chunks cannot be joined into one file; "
            "send this format as a single upload"
        )
        plan.playable = False
    return plan


async def stream_plan(
    storage: Storage, plan: Plan, start: int = 0, end: int | None = None
) -> AsyncIterator[bytes]:
    """Bytes [start, end] of the planned file, reading only the chunk ranges that overlap."""
    last = plan.size - 1 if end is None else min(end, plan.size - 1)
    offset = 0
    for segment in plan.segments:
        seg_start, seg_end = offset, offset + segment.size - 1
        offset += segment.size
        if seg_end < start or seg_start > last:
            continue
        lo, hi = max(start, seg_start) - seg_start, min(last, seg_end) - seg_start
        if segment.fill:
            for at in range(lo, hi + 1, _FILL_BLOCK):
                yield segment.fill * (min(hi + 1, at + _FILL_BLOCK) - at)
            continue
        if not segment.key:
            yield segment.data[lo : hi + 1]
            continue
        reader = await storage.open_range(segment.key, segment.start + lo, segment.start + hi)
        try:
            async for block in reader:
                yield block
        finally:
            await reader.aclose()


@dataclass(frozen=True)
class Stored:
    info: ObjectInfo
    sha256: str


async def write_plan(storage: Storage, key: str, plan: Plan) -> Stored:
    """Store the planned file at key with its sha256 (as `sha256` metadata too): composed by
    the backend when it can (local disk copies in worker threads), else streamed through."""
    if isinstance(storage, Composer):
        info, sha256 = await storage.compose(key, plan.segments)
        return Stored(info, sha256)
    hashing = HashingStream(stream_plan(storage, plan))
    info = await storage.put(key, hashing, lambda: {"sha256": hashing.sha256})
    return Stored(info, hashing.sha256)


class HashingStream:
    """Wraps a stream to learn the sha256 and size of what passed through."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self._digest = hashlib.sha256()
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for block in self._source:
            self._digest.update(block)
            self.size += len(block)
            yield block

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()
