"""The few signal-processing routines the engines need, in NumPy: a Kaiser-windowed low-pass design, the periodic
Hann window and polyphase resampling. They compute what scipy.signal's `firwin`, `get_window("hann")` and
`resample_poly` compute (tests/test_dsp.py holds them to it), without importing scipy.signal, which costs every
server process about 75 MB of memory for three functions."""
from __future__ import annotations

from math import gcd

import numpy as np

# resample_poly's filter: a Kaiser window (beta 5) over 10 zero crossings of the sinc on each side.
RESAMPLE_BETA = 5.0
RESAMPLE_HALF_ZEROS = 10


def kaiser_lowpass(taps: int, cutoff: float, beta: float) -> np.ndarray:
    """A linear-phase low-pass FIR of `taps` taps, `cutoff` relative to the Nyquist frequency (0..1), Kaiser
    window `beta`, unity gain at DC (scipy.signal.firwin(taps, cutoff, window=("kaiser", beta)))."""
    n = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * n) * np.kaiser(taps, beta)
    return h / h.sum()


def periodic_hann(length: int) -> np.ndarray:
    """The Hann window for spectral analysis (scipy.signal.get_window("hann", length), fftbins=True)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """`x` (1-D, float) at `up / down` times its rate: upsample by `up`, low-pass, downsample by `down`
    (scipy.signal.resample_poly(x, up, down) with its default window and zero padding).

    Output m is sum_i h[(t % up) + i * up] * x[t // up - i] with t = (m + delay) * down. The pattern of filter
    phases and input offsets repeats every `up` outputs while the input advances by `down`, so a block of `up`
    outputs is one row of input samples times one fixed matrix: the whole signal is a single matrix product."""
    x = np.asarray(x)
    g = gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    n_in = len(x)
    n_out = -(-n_in * up // down)
    half_len = RESAMPLE_HALF_ZEROS * max(up, down)
    h = kaiser_lowpass(2 * half_len + 1, 1.0 / max(up, down), RESAMPLE_BETA).astype(x.dtype) * up
    pre_pad = down - half_len % down
    h = np.concatenate([np.zeros(pre_pad, dtype=h.dtype), h])
    delay = (half_len + pre_pad) // down  # output samples of the filter's delay, dropped
    taps = -(-len(h) // up)
    phases = np.zeros(taps * up, dtype=h.dtype)
    phases[: len(h)] = h
    phases = phases.reshape(taps, up).T  # phases[p, i] = h[p + i * up]
    t = (np.arange(up) + delay) * down
    offsets, phase = t // up, t % up  # of output r within each block of `up`
    low = int(offsets.min()) - (taps - 1)
    width = int(offsets.max()) - low + 1
    matrix = np.zeros((width, up), dtype=h.dtype)
    for r in range(up):
        matrix[offsets[r] - low - np.arange(taps), r] = phases[phase[r]]
    blocks = -(-n_out // up)
    front = max(0, -low)
    padded = np.zeros(front + max(n_in, (blocks - 1) * down + low + width) + 1, dtype=x.dtype)
    padded[front : front + n_in] = x
    rows = np.lib.stride_tricks.as_strided(
        padded[front + low :], shape=(blocks, width), strides=(down * padded.itemsize, padded.itemsize), writeable=False
    )
    return (rows @ matrix).reshape(-1)[:n_out]
