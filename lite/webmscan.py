"""One pass over a WebM byte stream (e.g. MediaRecorder chunks in seq order), bounded memory. Pure.

Bytes are pushed in with `feed` as they are read from storage; block payloads are skipped, never
held. The scan keeps what a seekable master needs: the header elements, where each Cluster's body
lies in the stream, and, from each whole block (`webmblocks.BlockTally`), cue points and the
media's end time.
"""

from __future__ import annotations

from lite import ebml
from lite.ebml import EbmlError
from lite.webmblocks import BlockTally
from lite.webmfacts import Block, ClusterSpan, Scan, track_of

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
        self._blocks = BlockTally(self.scan)

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
        scan.end_time = self._blocks.end_time()
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
            self._blocks.set_timecode_scale(scan.timecode_scale)
            return
        scan.elements.append(data)
        if element_id == ebml.TRACKS:
            for child, body, _ in ebml.children(data[head:]):
                if child == ebml.TRACK_ENTRY:
                    track = track_of(body)
                    scan.tracks[track.number] = track
            video = [t.number for t in scan.tracks.values() if t.kind == _VIDEO]
            self._blocks.cue_track = min(video or list(scan.tracks) or [0])

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
            self._blocks.record(self._group)
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
            self._blocks.record(self._pending)
            self._pending = None

    def _fast_blocks(self) -> None:
        """A run of plain SimpleBlocks, read by the tally straight from the buffer."""
        cluster = self.scan.clusters[-1]
        if cluster.timecode is None:
            return
        buf = self._buf
        limit = len(buf) if cluster.end is None else min(len(buf), cluster.end - self._pos)
        taken = self._blocks.fast_blocks(buf, self._pos, limit, cluster.timecode)
        if taken:
            self._consume(taken)

    def _close_cluster(self, end: int) -> None:
        cluster = self.scan.clusters[-1]
        if cluster.end is None or cluster.end > end:
            cluster.end = end
        self._stage = "body"
