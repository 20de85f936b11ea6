"""One pass over a WebM byte stream (e.g. MediaRecorder chunks in seq order), bounded memory. Pure.

Bytes are pushed in with `feed` as they are read from storage; block payloads are skipped, never
held. The scan keeps what a seekable master needs: the header elements, where each Cluster's body
lies in the stream, cue points (a keyframe at least every `CUE_SPACING_NS`), and the media's end
time from the block timecodes.
"""

from __future__ import annotations

from lite import ebml
from lite.ebml import EbmlError
from lite.webmfacts import Block, ClusterSpan, CuePoint, Scan, block_length, track_of

CUE_SPACING_NS = 4_000_000_000  # a cue every ~4-5 s keeps a seek's read-ahead short
_MAX_HEADER_ELEMENT = 4 * 1024 * 1024  # Info, Tracks, Tags: small; larger means not WebM
_BLOCK_HEAD = 12  # track number (≤ 8 bytes), timecode (2), flags (1), first payload byte
_KEPT = (ebml.INFO, ebml.TRACKS, ebml.TAGS, ebml.CHAPTERS)
_VIDEO = 1  # TrackType of video: cues go on its keyframes


class WebmScanner:
    def __init__(self) -> None:
        self.scan = Scan()
        self._buf = bytearray()
        self._pos = 0  # stream offset of _buf[0]
        self._skip = 0
        self._element_start = 0
        self._pending: Block | None = None  # committed once its bytes are all present
        self._stage = "ebml"
        self._segment_end: int | None = None
        self._group_end = 0
        self._group: Block | None = None
        self._latest: dict[int, tuple[int, bytes, int | None]] = {}  # time, toc, duration
        self._before: dict[int, int | None] = {}
        self._last_cue: int | None = None
        self._cue_track = 0
        self._spacing = CUE_SPACING_NS / 1_000_000

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            if self._skip:
                n = min(self._skip, len(self._buf))
                del self._buf[:n]
                self._pos += n
                self._skip -= n
                if self._skip:
                    return
                self._commit_pending()
            if self._stage == "cluster":
                self._fast_blocks()
            if not self._step():
                return

    def finish(self) -> Scan:
        """The scan of everything fed; a cut-off element at the end is left out (and said)."""
        scan = self.scan
        if self._stage in ("ebml", "segment"):
            raise EbmlError("the stream ends before its first Cluster")
        if self._stage == "group" and self._pos >= self._group_end and not self._buf:
            self._end_group()
        if self._buf or self._skip:
            cut = self._element_start if self._skip else self._pos
            if self._stage == "group" and self._group is not None:
                cut = self._group.start
            dropped = self._pos + len(self._buf) - cut
            scan.problems.append(f"the last {dropped} bytes (a cut-off element) were left out")
            self._close_cluster(cut)
        elif self._stage == "cluster":
            self._close_cluster(self._pos)
        if not scan.clusters:
            raise EbmlError("the stream has no Cluster")
        scan.end_time = self._end_time()
        return scan

    def _skip_element(self, length: int) -> None:
        self._element_start, self._skip = self._pos, length

    # --- element dispatch -------------------------------------------------------------------------

    def _step(self) -> bool:
        """Handle the element at the buffer's start; False when more bytes are needed."""
        if self._stage == "group" and self._pos >= self._group_end:
            self._end_group()
        cluster = self.scan.clusters[-1] if self._stage == "cluster" else None
        if cluster and cluster.end is not None and self._pos >= cluster.end:
            self._stage = "body"
        header = ebml.read_header(self._buf, 0)
        if header is None:
            return False
        element_id, size, head = header
        if size == ebml.UNKNOWN and element_id not in (ebml.SEGMENT, ebml.CLUSTER):
            raise EbmlError(f"element 0x{element_id:x} at {self._pos} has an unknown size")
        handler = {
            "ebml": self._at_ebml,
            "segment": self._at_segment,
            "body": self._at_body,
            "cluster": self._at_cluster,
            "group": self._at_group,
        }[self._stage]
        return handler(element_id, size, head)

    def _whole(self, size: int, head: int) -> bytes | None:
        if size > _MAX_HEADER_ELEMENT:
            raise EbmlError(f"a {size}-byte header element is too large for WebM")
        if len(self._buf) < head + size:
            return None
        data = bytes(self._buf[: head + size])
        self._consume(head + size)
        return data

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        self._pos += n

    def _at_ebml(self, element_id: int, size: int, head: int) -> bool:
        if element_id != ebml.EBML:
            raise EbmlError("no EBML header: not a WebM file")
        data = self._whole(size, head)
        if data is None:
            return False
        kind = ebml.doc_type(data[head:])
        if kind not in ("webm", "matroska"):
            raise EbmlError(f"EBML DocType is {kind!r}, not webm")
        self.scan.ebml_header, self._stage = data, "segment"
        return True

    def _at_segment(self, element_id: int, size: int, head: int) -> bool:
        if element_id != ebml.SEGMENT:
            raise EbmlError(f"expected a Segment after the EBML header, found 0x{element_id:x}")
        self._consume(head)
        self._segment_end = None if size == ebml.UNKNOWN else self._pos + size
        self._stage = "body"
        return True

    def _at_body(self, element_id: int, size: int, head: int) -> bool:
        if element_id in (ebml.EBML, ebml.SEGMENT) or (
            self._segment_end is not None and self._pos >= self._segment_end
        ):
            raise EbmlError(f"a second WebM stream starts at byte {self._pos}")
        if element_id == ebml.CLUSTER:
            end = None if size == ebml.UNKNOWN else self._pos + head + size
            self.scan.clusters.append(ClusterSpan(self._pos, self._pos + head, end))
            self._consume(head)
            self._stage = "cluster"
            return True
        if element_id in _KEPT:
            data = self._whole(size, head)
            if data is None:
                return False
            self._keep(element_id, data, head)
            return True
        self._skip_element(size + head)  # SeekHead, Cues, Void, Attachments...: not copied
        return True

    def _keep(self, element_id: int, data: bytes, head: int) -> None:
        scan = self.scan
        if element_id == ebml.INFO:
            scan.info = data[head:]
            for child, body, _ in ebml.children(scan.info):
                if child == ebml.TIMECODE_SCALE and ebml.uint(body):
                    scan.timecode_scale = ebml.uint(body)
            self._spacing = CUE_SPACING_NS / scan.timecode_scale
            return
        scan.elements.append(data)
        if element_id == ebml.TRACKS:
            for child, body, _ in ebml.children(data[head:]):
                if child == ebml.TRACK_ENTRY:
                    track = track_of(body)
                    scan.tracks[track.number] = track
            video = [t.number for t in scan.tracks.values() if t.kind == _VIDEO]
            self._cue_track = min(video or list(scan.tracks) or [0])

    def _at_cluster(self, element_id: int, size: int, head: int) -> bool:
        cluster = self.scan.clusters[-1]
        if element_id in ebml.TOP_LEVEL:
            if cluster.end is not None:
                raise EbmlError(f"element 0x{element_id:x} inside a Cluster at {self._pos}")
            self._close_cluster(self._pos)
            self._stage = "body"
            return True
        if element_id == ebml.TIMECODE:
            data = self._whole(size, head)
            if data is None:
                return False
            cluster.timecode = ebml.uint(data[head:])
            return True
        if element_id == ebml.SIMPLE_BLOCK:
            block = self._block_head(size, head, self._pos)
            if block is None:
                return False
            self._pending = block
            self._skip_element(size + head)
            return True
        if element_id == ebml.BLOCK_GROUP:
            self._group_end = self._pos + head + size
            self._group = Block(0, 0, self._pos, keyframe=True)
            self._consume(head)
            self._stage = "group"
            return True
        self._skip_element(size + head)
        return True

    def _at_group(self, element_id: int, size: int, head: int) -> bool:
        group = self._group
        assert group is not None
        if element_id == ebml.BLOCK:
            block = self._block_head(size, head, group.start)
            if block is None:
                return False
            group.track, group.time, group.toc = block.track, block.time, block.toc
        elif element_id in (ebml.BLOCK_DURATION, ebml.REFERENCE_BLOCK):
            data = self._whole(size, head)
            if data is None:
                return False
            if element_id == ebml.REFERENCE_BLOCK:
                group.keyframe = False
            else:
                group.duration = ebml.uint(data[head:])
            return True
        self._skip_element(size + head)
        return True

    def _end_group(self) -> None:
        self._stage = "cluster"
        if self._group is not None and self._group.track:
            self._record(self._group)
        self._group = None

    def _block_head(self, size: int, head: int, start: int) -> Block | None:
        need = min(size, _BLOCK_HEAD)
        if len(self._buf) < head + need:
            return None
        got = ebml.read_size(self._buf, head)
        if got is None or got[1] + 3 > size:
            raise EbmlError(f"malformed block at byte {self._pos}")
        track, length = got
        body = head + length
        relative = int.from_bytes(self._buf[body : body + 2], "big", signed=True)
        flags = self._buf[body + 2]
        cluster = self.scan.clusters[-1]
        if cluster.timecode is None:
            raise EbmlError(f"a block before its Cluster's Timecode at byte {self._pos}")
        laced = flags & 0x06
        toc = b"" if laced else bytes(self._buf[body + 3 : head + need])
        return Block(track, cluster.timecode + relative, start, bool(flags & 0x80), toc=toc)

    def _commit_pending(self) -> None:
        if self._pending is not None:
            self._record(self._pending)
            self._pending = None

    # --- facts of a whole block -------------------------------------------------------------------

    def _record(self, block: Block) -> None:
        self._note(block.track, block.time, block.start, block.keyframe, block.toc, block.duration)

    def _note(
        self, track: int, time: int, start: int, key: bool, toc: bytes, duration: int | None = None
    ) -> None:
        """One whole block: the latest block of each track gives the end; keyframes give cues."""
        latest = self._latest.get(track)
        if latest is None or time >= latest[0]:
            self._before[track] = latest[0] if latest else None
            self._latest[track] = (time, toc, duration)
        if track == self._cue_track and key:
            self._cue(track, time, start)

    def _cue(self, track: int, time: int, start: int) -> None:
        """A keyframe of the cue track at `start`: a cue point when the last one is far enough."""
        if self._last_cue is None or time - self._last_cue >= self._spacing:
            index = len(self.scan.clusters) - 1
            relative = start - self.scan.clusters[index].body_start
            self.scan.cues.append(CuePoint(time, track, index, relative))
            self._last_cue = time

    def _end_time(self) -> float:
        scan, end = self.scan, 0.0
        for number, (time, toc, duration) in self._latest.items():
            block = Block(number, time, 0, True, duration, toc)
            length = block_length(block, scan.tracks.get(number), scan.timecode_scale)
            before = self._before.get(number)
            if length is None:
                length = time - before if before is not None else 0
            end = max(end, time + max(length, 0))
        return end

    def _fast_blocks(self) -> None:
        """Whole SimpleBlocks with a one-byte track number, read straight from the buffer: the
        bulk of a recording (hundreds of thousands of blocks), so this loop does the least: a
        track's latest block and the keyframes that become cues; Opus TOC bytes are copied
        only for each track's last block of the batch."""
        buf, i = self._buf, 0
        cluster = self.scan.clusters[-1]
        base = cluster.timecode
        if base is None:
            return
        limit = len(buf) if cluster.end is None else min(len(buf), cluster.end - self._pos)
        latest, before, cue_track = self._latest, self._before, self._cue_track
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
                self._cue(track, time, self._pos + i)
            i = end
        for track, (start, end, flags) in last_at.items():
            toc = b"" if flags & 0x06 else bytes(buf[start : min(end, start + 2)])
            latest[track] = (latest[track][0], toc, None)
        if i:
            self._consume(i)

    def _close_cluster(self, end: int) -> None:
        cluster = self.scan.clusters[-1]
        if cluster.end is None or cluster.end > end:
            cluster.end = end
        self._stage = "body"
