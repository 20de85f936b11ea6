"""What the blocks of a WebM stream tell, one block at a time. Pure.

`webmscan.WebmScanner` reads the elements and hands each whole block here; this keeps each track's
latest block (the media's end time comes from it) and turns keyframes of the cue track into cue
points (one at least every `CUE_SPACING_NS`). `fast_blocks` reads the common case, a run of
SimpleBlocks with a one-byte track number, straight from the scanner's buffer.
"""

from __future__ import annotations

from lite.webmfacts import Block, CuePoint, Scan, block_length

CUE_SPACING_NS = 4_000_000_000  # a cue every ~4-5 s keeps a seek's read-ahead short


class BlockTally:
    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.latest: dict[int, tuple[int, bytes, int | None]] = {}  # time, toc, duration
        self.before: dict[int, int | None] = {}
        self.last_cue: int | None = None
        self.cue_track = 0
        self.spacing = CUE_SPACING_NS / 1_000_000

    def set_timecode_scale(self, scale: int) -> None:
        self.spacing = CUE_SPACING_NS / scale

    def record(self, block: Block) -> None:
        self.note(block.track, block.time, block.start, block.keyframe, block.toc, block.duration)

    def note(
        self, track: int, time: int, start: int, key: bool, toc: bytes, duration: int | None = None
    ) -> None:
        """One whole block: the latest block of each track gives the end; keyframes give cues."""
        latest = self.latest.get(track)
        if latest is None or time >= latest[0]:
            self.before[track] = latest[0] if latest else None
            self.latest[track] = (time, toc, duration)
        if track == self.cue_track and key:
            self.cue(track, time, start)

    def cue(self, track: int, time: int, start: int) -> None:
        """A keyframe of the cue track at `start`: a cue point when the last one is far enough."""
        if self.last_cue is None or time - self.last_cue >= self.spacing:
            index = len(self.scan.clusters) - 1
            relative = start - self.scan.clusters[index].body_start
            self.scan.cues.append(CuePoint(time, track, index, relative))
            self.last_cue = time

    def end_time(self) -> float:
        scan, end = self.scan, 0.0
        for number, (time, toc, duration) in self.latest.items():
            block = Block(number, time, 0, True, duration, toc)
            length = block_length(block, scan.tracks.get(number), scan.timecode_scale)
            before = self.before.get(number)
            if length is None:
                length = time - before if before is not None else 0
            end = max(end, time + max(length, 0))
        return end

    def fast_blocks(self, buf: bytearray, pos: int, limit: int, base: int) -> int:
        """Whole SimpleBlocks with a one-byte track number at the start of buf (stream offset
        pos, up to limit, in a Cluster of timecode base); returns how many bytes they take. The
        bulk of a recording (hundreds of thousands of blocks), so this loop does the least: a
        track's latest block and the keyframes that become cues; Opus TOC bytes are copied
        only for each track's last block of the batch."""
        i = 0
        latest, before, cue_track = self.latest, self.before, self.cue_track
        last_at: dict[int, tuple[int, int, int]] = {}  # track -> payload start, end, flags
        while i + 3 < limit and buf[i] == 0xA3:
            first = buf[i + 1]
            if first & 0x80 and first != 0xFF:
                size, body = first & 0x7F, i + 2
            elif first & 0x40 and (first != 0x7F or buf[i + 2] != 0xFF):
                size, body = ((first & 0x3F) << 8) | buf[i + 2], i + 3
            else:
                break
            end = body + size
            if end > limit or size < 4 or not buf[body] & 0x80:
                break
            track, flags = buf[body] & 0x7F, buf[body + 3]
            relative = (buf[body + 1] << 8) | buf[body + 2]
            time = base + (relative - 0x10000 if relative & 0x8000 else relative)
            newest = latest.get(track)
            if newest is None or time >= newest[0]:
                before[track] = newest[0] if newest else None
                latest[track] = (time, b"", None)
                last_at[track] = (body + 4, end, flags)
            if track == cue_track and flags & 0x80:
                self.cue(track, time, pos + i)
            i = end
        for track, (start, end, flags) in last_at.items():
            toc = b"" if flags & 0x06 else bytes(buf[start : min(end, start + 2)])
            latest[track] = (latest[track][0], toc, None)
        return i
