"""Waveform peaks in audiowaveform's JSON format (version 2, 8 bits), the format peaks.js reads.

Pure (numpy only). Samples arrive as 16-bit integers, interleaved (frames x channels), block by
block; each pixel keeps the minimum and the maximum of `samples_per_pixel` frames over all
channels, scaled to 8 bits by dropping the low byte (as audiowaveform does). Memory is one
block plus the peaks.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_SAMPLES_PER_PIXEL = 256
MAX_PIXELS = 20_000  # a two-hour meeting still fits a small JSON document


def samples_per_pixel(sample_rate: int, duration_seconds: float | None) -> int:
    """256 frames a pixel, or more so that the whole file stays within MAX_PIXELS."""
    frames = (duration_seconds or 0) * sample_rate
    return max(MIN_SAMPLES_PER_PIXEL, math.ceil(frames / MAX_PIXELS))


class PeakBuilder:
    def __init__(self, sample_rate: int, channels: int, per_pixel: int) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.per_pixel = per_pixel
        self._rest = np.zeros((0, channels), dtype=np.int16)
        self._mins: list[npt.NDArray[np.int16]] = []
        self._maxs: list[npt.NDArray[np.int16]] = []

    def feed(self, frames: npt.NDArray[np.int16]) -> None:
        """`frames`: shape (n, channels), int16."""
        if len(self._rest):
            frames = np.concatenate((self._rest, frames))
        whole = len(frames) // self.per_pixel * self.per_pixel
        if whole:
            pixels = frames[:whole].reshape(-1, self.per_pixel * self.channels)
            self._mins.append(pixels.min(axis=1))
            self._maxs.append(pixels.max(axis=1))
        self._rest = frames[whole:]

    def finish(self) -> dict[str, Any]:
        if len(self._rest):
            self._mins.append(np.array([self._rest.min()], dtype=np.int16))
            self._maxs.append(np.array([self._rest.max()], dtype=np.int16))
            self._rest = self._rest[:0]
        mins = np.concatenate(self._mins) if self._mins else np.zeros(0, np.int16)
        maxs = np.concatenate(self._maxs) if self._maxs else np.zeros(0, np.int16)
        data = np.empty(len(mins) * 2, dtype=np.int16)
        data[0::2], data[1::2] = mins >> 8, maxs >> 8  # arithmetic shift: -32768 → -128
        return {
            "version": 2,
            "channels": 1,
            "sample_rate": self.sample_rate,
            "samples_per_pixel": self.per_pixel,
            "bits": 8,
            "length": len(mins),
            "data": data.tolist(),
        }


def to_json(peaks: dict[str, Any]) -> bytes:
    return json.dumps(peaks, separators=(",", ":")).encode()
