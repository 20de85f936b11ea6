"""The layout of a seekable WebM master, from a scan of the recorded stream. Pure.

The master is the recorder's EBML header, then a Segment of known size holding: a SeekHead, the
Info with a Duration, the Tracks (and Tags/Chapters) as recorded, Cues, and every Cluster with a
known size. Cluster bodies are copied byte for byte from the stream, so every block (and the
audio in it) stays as recorded; only headers are written anew. Cues sit before the Clusters, so a
player learns the duration and the seek index from the first bytes it reads (one range request).
Positions are written at a fixed width, which lets every offset be computed before writing.
"""

from __future__ import annotations

from dataclasses import dataclass

from lite import ebml
from lite.ebml import EbmlError
from lite.webmfacts import Scan

_POSITION_WIDTH = 8
_SIZE_WIDTH = 8
_CLUSTER_HEAD = len(ebml.encode_id(ebml.CLUSTER)) + _SIZE_WIDTH


@dataclass(frozen=True)
class Piece:
    """Literal bytes, or bytes [start, end) of the recorded stream (a Cluster's body)."""

    data: bytes = b""
    start: int = 0
    end: int = 0

    @property
    def size(self) -> int:
        return len(self.data) if self.data else self.end - self.start


def layout(scan: Scan) -> list[Piece]:
    """The master as pieces; their sizes add up to the file's size."""
    if not any(e.startswith(ebml.encode_id(ebml.TRACKS)) for e in scan.elements):
        raise EbmlError("the stream has no Tracks before its first Cluster")
    clusters = [c for c in scan.clusters if c.end is not None and c.end > c.body_start]
    info = _info(scan)
    cues_size = len(_cues(scan, [0] * len(scan.clusters)))
    seek_size = len(_seek_head([(ebml.INFO, 0)] * (2 + len(scan.elements))))
    # Segment-relative positions: SeekHead, Info, Tracks/Tags..., Cues, Clusters.
    heads = [info, *scan.elements]
    offsets, position = [], seek_size
    for element in heads:
        offsets.append(position)
        position += len(element)
    cues_at = position
    position += cues_size
    cluster_at = [0] * len(scan.clusters)
    index_of = {id(c): i for i, c in enumerate(scan.clusters)}
    for cluster in clusters:
        cluster_at[index_of[id(cluster)]] = position
        position += _CLUSTER_HEAD + _body_size(cluster.body_start, cluster.end)
    entries = [(ebml.INFO, offsets[0])]
    entries += [(_element_id(e), at) for e, at in zip(scan.elements, offsets[1:], strict=True)]
    entries.append((ebml.CUES, cues_at))
    head = _seek_head(entries) + b"".join(heads) + _cues(scan, cluster_at)
    segment = ebml.encode_id(ebml.SEGMENT) + ebml.encode_size(position, _SIZE_WIDTH)
    pieces = [Piece(scan.ebml_header + segment + head)]
    for cluster in clusters:
        assert cluster.end is not None
        size = _body_size(cluster.body_start, cluster.end)
        pieces.append(Piece(ebml.encode_id(ebml.CLUSTER) + ebml.encode_size(size, _SIZE_WIDTH)))
        pieces.append(Piece(start=cluster.body_start, end=cluster.end))
    return pieces


def _body_size(start: int, end: int | None) -> int:
    assert end is not None
    return end - start


def _element_id(element: bytes) -> int:
    got = ebml.read_id(element, 0)
    assert got is not None
    return got[0]


def _info(scan: Scan) -> bytes:
    """The recorded Info without its Duration (live writers leave none or 0), plus the real one."""
    kept = b""
    for element_id, body, _ in ebml.children(scan.info):
        if element_id not in (ebml.DURATION, ebml.VOID, ebml.CRC32):
            kept += ebml.element(element_id, body)
    if not any(i == ebml.TIMECODE_SCALE for i, _, _ in ebml.children(scan.info)):
        kept += ebml.uint_element(ebml.TIMECODE_SCALE, scan.timecode_scale)
    return ebml.element(ebml.INFO, kept + ebml.float_element(ebml.DURATION, scan.end_time))


def _seek_head(entries: list[tuple[int, int]]) -> bytes:
    seeks = b""
    for element_id, position in entries:
        body = ebml.element(ebml.SEEK_ID, ebml.encode_id(element_id))
        body += ebml.uint_element(ebml.SEEK_POSITION, position, _POSITION_WIDTH)
        seeks += ebml.element(ebml.SEEK, body)
    return ebml.element(ebml.SEEK_HEAD, seeks)


def _cues(scan: Scan, cluster_at: list[int]) -> bytes:
    points = []
    for cue in scan.cues:
        cluster = scan.clusters[cue.cluster]
        if cluster.end is None or cue.relative >= cluster.end - cluster.body_start:
            continue  # the block was in a cut-off tail
        position = ebml.uint_element(ebml.CUE_TRACK, cue.track)
        position += ebml.uint_element(ebml.CUE_CLUSTER_POSITION, cluster_at[cue.cluster], 8)
        position += ebml.uint_element(ebml.CUE_RELATIVE_POSITION, cue.relative, 4)
        body = ebml.uint_element(ebml.CUE_TIME, max(cue.time, 0), 8)
        body += ebml.element(ebml.CUE_TRACK_POSITIONS, position)
        points.append(ebml.element(ebml.CUE_POINT, body))
    if not points:
        raise EbmlError("no keyframe to point a cue at")
    return ebml.element(ebml.CUES, b"".join(points))
