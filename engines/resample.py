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
