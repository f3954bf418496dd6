"""Phone timings of a recording in any language espeak-ng speaks: DTW against the same text synthesized by espeak-ng,
whose phoneme events give exact timings on the synthetic side.

Both signals are trimmed to their speech (energy), espeak is re-spoken at the recording's pace, and both become
mean- and variance-normalised cepstra of the telephone band (60-3800 Hz, so 8 kHz and 16 kHz recordings are
compared alike). The warping path, with slopes between 1/2 and 2, carries every synthetic phoneme boundary onto
the recording; `distortion` is the mean frame distance along it.

tools/check_alignment.py measures it against timings known exactly, beside PocketSphinx with espeak-ng's phonemes
(tools/align_sphinx.py), which places phones better and is what the data set uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft, signal

from engines.resample import resample
from engines.tts.base import Timed
from engines.tts.ipa import PAUSE
from tools.align_common import RATE, espeak_reference, speech_span

HOP = 160
WIN = 400
N_FFT = 512
BANDS = 24
CEPSTRA = 12
FRAME_S = HOP / RATE


@dataclass(frozen=True)
class DtwAlignment:
    phonemes: list[Timed]
    distortion: float


@lru_cache(maxsize=1)
def _filterbank() -> np.ndarray:
    mel = np.linspace(2595 * np.log10(1 + 60 / 700), 2595 * np.log10(1 + 3800 / 700), BANDS + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    bins = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))


def cepstra(pcm16k: np.ndarray) -> np.ndarray:
    """(frames, CEPSTRA) normalised cepstra every 10 ms; c0 (loudness) left out."""
    x = pcm16k.astype(np.float64) / 32768.0
    if len(x) < WIN:
        x = np.concatenate([x, np.zeros(WIN - len(x))])
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::HOP] * signal.get_window("hamming", WIN)
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2
    ceps = fft.dct(np.log(power @ _filterbank().T + 1e-8), type=2, norm="ortho", axis=1)[:, 1 : CEPSTRA + 1]
    return (ceps - ceps.mean(0)) / (ceps.std(0) + 1e-6)


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Warping path (k, 2) from (0, 0) to (len(a)-1, len(b)-1) with steps (1,1), (1,2), (2,1), and the mean
    distance along it. Raises ValueError when the lengths differ by more than the slopes allow."""
    n, m = len(a), len(b)
    if not (m <= 2 * n and n <= 2 * m):
        raise ValueError("sequences too different in length for slopes 1/2..2")
    dist = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    total = np.full((n, m), np.inf)
    step = np.zeros((n, m), dtype=np.int8)
    total[0, 0] = dist[0, 0]
    for i in range(1, n):
        candidates = np.full((3, m), np.inf)
        candidates[0, 1:] = total[i - 1, :-1]  # (1, 1)
        candidates[1, 2:] = total[i - 1, :-2] + dist[i, 1:-1]  # (1, 2): passes through (i, j-1)
        if i >= 2:
            candidates[2, 1:] = total[i - 2, :-1] + dist[i - 1, 1:]  # (2, 1): passes through (i-1, j)
        step[i] = np.argmin(candidates, axis=0)
        total[i] = dist[i] + candidates[step[i], np.arange(m)]
    if not np.isfinite(total[-1, -1]):
        raise ValueError("no warping path within the slope limits")
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while (i, j) != (0, 0):
        move = step[i, j]
        if move == 0:
            i, j = i - 1, j - 1
        elif move == 1:
            path += [(i, j - 1)]
            i, j = i - 1, j - 2
        else:
            path += [(i - 1, j)]
            i, j = i - 2, j - 1
        path.append((i, j))
    path_array = np.array(path[::-1])
    return path_array, float(dist[path_array[:, 0], path_array[:, 1]].mean())


def align(pcm: np.ndarray, rate: int, text: str, language: str) -> DtwAlignment | None:
    """IPA phoneme timings (seconds from the recording's first sample, pauses included); None where the
    recording is silent or its pace is beyond what the warping allows."""
    recording = resample(pcm, rate, RATE) if rate != RATE else pcm
    if len(recording) < WIN or np.abs(recording).max() == 0:
        return None
    on, off = speech_span(recording)
    s_on, s_off = speech_span(espeak_reference(text, language).pcm)
    pace = float(np.clip((s_off - s_on) / max(off - on, FRAME_S), 0.5, 2.5))
    reference = espeak_reference(text, language, pace)
    synthetic, phonemes = reference.pcm, reference.phonemes
    s_on, s_off = speech_span(synthetic)
    ref = cepstra(synthetic[int(s_on * RATE) : int(s_off * RATE)])
    rec = cepstra(recording[int(on * RATE) : int(off * RATE)])
    try:
        path, distortion = dtw_path(ref, rec)
    except ValueError:
        return None
    # Recording frame for each synthetic frame: the mean of the frames the path pairs it with.
    mapped = np.zeros(len(ref))
    counts = np.zeros(len(ref))
    np.add.at(mapped, path[:, 0], path[:, 1])
    np.add.at(counts, path[:, 0], 1)
    mapped /= counts

    def carry(t: float) -> float:
        frame = (t - s_on) / FRAME_S
        return on + float(np.interp(frame, np.arange(len(ref)), mapped)) * FRAME_S

    spoken = [p for p in phonemes if p.text != PAUSE and p.end > s_on and p.start < s_off]
    if not spoken:
        return None
    carried = [Timed(p.text, carry(max(p.start, s_on)), carry(min(p.end, s_off))) for p in spoken]
    result = [Timed(PAUSE, 0.0, carried[0].start)]
    for previous, phone in zip([None, *carried], carried):
        if previous is not None and phone.start > previous.end:
            result.append(Timed(PAUSE, previous.end, phone.start))
        result.append(phone)
    result.append(Timed(PAUSE, carried[-1].end, len(recording) / RATE))
    return DtwAlignment(result, distortion)
