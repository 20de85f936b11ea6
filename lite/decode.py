"""Decode a media file's audio to 16-bit samples with PyAV (FFmpeg's libraries, no binary).

Blocking: run it in a worker thread. `source` is a seekable binary file object (a path works
too); every decoded frame is converted to interleaved s16 at the stream's own rate and layout
(as ffmpeg's `-f s16le` does) and handed on as an array of shape (frames, channels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

import av
import numpy as np
import numpy.typing as npt

from lite.errors import MediaUnplayable

Frames = npt.NDArray[np.int16]


def decode_s16(
    source: IO[bytes] | str, sink: Callable[[int, int], Callable[[Frames], None]]
) -> None:
    """`sink(sample_rate, channels)` returns the function that takes the decoded frames."""
    try:
        with av.open(source, "r") as container:
            stream = _audio(container)
            channels = int(stream.channels)
            on_frames = sink(int(stream.rate), channels)
            resampler = av.AudioResampler(format="s16", layout=stream.layout, rate=stream.rate)
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    on_frames(_s16(converted, channels))
            for converted in resampler.resample(None):
                on_frames(_s16(converted, channels))
    except av.FFmpegError as exc:
        raise MediaUnplayable(f"cannot decode the audio: {exc}") from exc


def _s16(frame: Any, channels: int) -> Frames:
    samples: Frames = np.asarray(frame.to_ndarray(), dtype=np.int16)
    return samples.reshape(-1, channels)


def _audio(container: Any) -> Any:
    if not container.streams.audio:
        raise MediaUnplayable("the media file has no audio stream")
    return container.streams.audio[0]
