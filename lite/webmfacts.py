"""What a WebM scan finds (Clusters, cue points, tracks) and how long a block plays. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from lite import ebml


@dataclass
class ClusterSpan:
    start: int  # stream offset of the Cluster element
    body_start: int
    end: int | None  # None until the end of an unknown-size Cluster is seen
    timecode: int | None = None


@dataclass(frozen=True)
class CuePoint:
    time: int  # in TimecodeScale units
    track: int
    cluster: int  # index into `Scan.clusters`
    relative: int  # offset of the block inside the Cluster's body


@dataclass
class Track:
    number: int
    kind: int
    codec: str
    default_duration_ns: int = 0


@dataclass
class Scan:
    ebml_header: bytes = b""
    info: bytes = b""  # body of the Info element
    elements: list[bytes] = field(default_factory=list)  # Tracks, Tags, Chapters, whole
    timecode_scale: int = 1_000_000
    tracks: dict[int, Track] = field(default_factory=dict)
    clusters: list[ClusterSpan] = field(default_factory=list)
    cues: list[CuePoint] = field(default_factory=list)
    end_time: float = 0.0  # TimecodeScale units: the end of the last block of any track
    problems: list[str] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float:
        return self.end_time * self.timecode_scale / 1e9


@dataclass
class Block:
    track: int
    time: int
    start: int  # stream offset of the SimpleBlock / BlockGroup element
    keyframe: bool
    duration: int | None = None  # TimecodeScale units, when the block says
    toc: bytes = b""  # the first payload bytes (an Opus TOC gives the packet's length)


def track_of(body: bytes) -> Track:
    track = Track(0, 0, "")
    for child, value, _ in ebml.children(body):
        if child == ebml.TRACK_NUMBER:
            track.number = ebml.uint(value)
        elif child == ebml.TRACK_TYPE:
            track.kind = ebml.uint(value)
        elif child == ebml.CODEC_ID:
            track.codec = value.rstrip(b"\0").decode("ascii", "replace")
        elif child == ebml.DEFAULT_DURATION:
            track.default_duration_ns = ebml.uint(value)
    return track


def block_length(block: Block, track: Track | None, scale: int) -> float | None:
    """How long a block plays, in TimecodeScale units; None when nothing says."""
    if block.duration is not None:
        return block.duration
    if track is not None and track.default_duration_ns:
        return track.default_duration_ns / scale
    if track is not None and track.codec == "A_OPUS" and block.toc:
        ns = opus_packet_ns(block.toc)
        return None if ns is None else ns / scale
    return None


_SILK_MS = (10, 20, 40, 60)
_CELT_US = (2500, 5000, 10000, 20000)


def opus_packet_ns(toc: bytes) -> int | None:
    """Length of an Opus packet from its first bytes (RFC 6716 section 3.1), in nanoseconds."""
    config, code = toc[0] >> 3, toc[0] & 3
    if config < 12:
        frame_us = _SILK_MS[config % 4] * 1000
    elif config < 16:
        frame_us = (10_000, 20_000)[config % 2]
    else:
        frame_us = _CELT_US[config % 4]
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    elif len(toc) < 2:
        return None
    else:
        frames = toc[1] & 0x3F
    return frame_us * frames * 1000
