"""Sample-rate conversion shared by the engines and the server: polyphase filtering, int16 in and out."""
from __future__ import annotations

from math import gcd

import numpy as np
from engines.dsp import resample_poly


def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """int16 mono audio at `src_rate` -> int16 at `dst_rate` (same duration, to the sample)."""
    if src_rate == dst_rate or len(pcm) == 0:
        return np.asarray(pcm, dtype=np.int16)
    g = gcd(src_rate, dst_rate)
    out = resample_poly(pcm.astype(np.float32), dst_rate // g, src_rate // g)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


class StreamResampler:
    """`resample` for audio that arrives in pieces, giving what resampling the whole would (to float rounding),
    without a click at each seam: the last few samples of a piece wait for the start of the next (the filter needs
    both sides of a sample), and each block is cut where the two rates' sample grids meet."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        g = gcd(src_rate, dst_rate)
        self._up, self._down = dst_rate // g, src_rate // g
        # resample_poly's filter reaches 10 * max(up, down) samples of the upsampled signal to each side.
        self._reach = -(-10 * max(self._up, self._down) // self._up) + 1
        self._buffer = np.zeros(0, dtype=np.float32)
        self._base = 0  # input index of the buffer's first sample: a multiple of `down`
        self._sent = 0  # output samples sent so far

    def feed(self, pcm: np.ndarray) -> np.ndarray:
        """The output that `pcm` completes (int16)."""
        if self._up == self._down:
            return np.asarray(pcm, dtype=np.int16)
        self._buffer = np.concatenate([self._buffer, np.asarray(pcm, dtype=np.float32)])
        ready_in = self._base + len(self._buffer) - self._reach  # input known on both sides up to here
        return self._emit(max(self._sent, ready_in * self._up // self._down))

    def finish(self) -> np.ndarray:
        """The rest, once the last piece has been fed."""
        if self._up == self._down:
            return np.zeros(0, dtype=np.int16)
        return self._emit(-(-(self._base + len(self._buffer)) * self._up // self._down))

    def _emit(self, until: int) -> np.ndarray:
        if until <= self._sent or not len(self._buffer):
            return np.zeros(0, dtype=np.int16)
        out = resample_poly(self._buffer, self._up, self._down)
        first = self._base * self._up // self._down
        block = out[self._sent - first : until - first]
        self._sent = until
        # Keep what the next block's first samples still reach back to, from a grid-aligned start.
        keep_from = (self._sent * self._down // self._up - self._reach) // self._down * self._down
        if keep_from > self._base:
            self._buffer = self._buffer[keep_from - self._base :]
            self._base = keep_from
        return np.clip(np.round(block), -32768, 32767).astype(np.int16)
