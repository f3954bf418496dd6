"""Log-mel features of the 48 kHz session timeline, computed incrementally so the face network can run live.

The network sees 16 kHz audio as 40 log-mel bands every 10 ms. Everything is anchored to the timeline so that
features computed chunk by chunk in the server are bit-for-bit the features the network was trained on:

- 16 kHz sample j sits at timeline sample 3j; it is a symmetric (zero-phase) low-pass FIR of the 48 kHz audio,
  so the decimation neither delays nor advances the speech.
- mel frame k is centred on 16 kHz sample 160k, i.e. on timeline sample 480k. Video frame n's centre,
  1920n + 960, is therefore exactly mel frame 4n + 2.

`timeline_log_mel` is the offline computation (training, tests); `StreamingLogMel` produces the same frames from
audio pushed in arbitrary chunks.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from engines.dsp import kaiser_lowpass, periodic_hann

DECIMATION = 3  # 48 kHz -> 16 kHz
FEATURE_RATE = 16_000
HOP = 160  # 10 ms
WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 40
F_MIN = 50.0
F_MAX = 7_600.0
LOG_FLOOR = 1e-6
FIR_TAPS = 97  # odd and symmetric: the 16 kHz samples stay centred on their timeline positions
FIR_HALF = FIR_TAPS // 2
TIMELINE_PER_MEL = HOP * DECIMATION  # 480 timeline samples per mel frame

# The window of mel frames the network sees for one video frame: PAST before its centre frame, FUTURE after.
PAST = 40  # 400 ms of context
FUTURE = 10  # 100 ms of look-ahead
WINDOW = PAST + 1 + FUTURE
MELS_PER_VIDEO_FRAME = 4  # 40 ms / 10 ms


@lru_cache(maxsize=1)
def decimation_filter() -> np.ndarray:
    """Anti-alias low-pass for 48 -> 16 kHz; cut below 8 kHz so nothing folds back into the mel range."""
    return kaiser_lowpass(FIR_TAPS, 7_800.0 / (FEATURE_RATE * DECIMATION / 2), 8.0).astype(np.float64)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """HTK-style triangular filters, shape (N_MELS, N_FFT // 2 + 1)."""
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), N_MELS + 2))
    bins_hz = np.arange(N_FFT // 2 + 1) * FEATURE_RATE / N_FFT
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


@lru_cache(maxsize=1)
def analysis_window() -> np.ndarray:
    return periodic_hann(WIN).astype(np.float32)


def frames_to_log_mel(frames: np.ndarray) -> np.ndarray:
    """(T, WIN) float 16 kHz frames in [-1, 1] -> (T, N_MELS) float32 log-mel."""
    spectrum = np.fft.rfft(frames.astype(np.float32) * analysis_window(), n=N_FFT, axis=-1)
    power = spectrum.real.astype(np.float32) ** 2 + spectrum.imag.astype(np.float32) ** 2
    return np.log(power @ mel_filterbank().T + LOG_FLOOR).astype(np.float32)


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM -> float64 in [-1, 1); float input passes through."""
    if pcm.dtype == np.int16:
        return pcm.astype(np.float64) / 32768.0
    return np.asarray(pcm, dtype=np.float64)


def decimate_offline(x48: np.ndarray) -> np.ndarray:
    """16 kHz samples j = 0 .. len//3 - 1 of a timeline that is silent before sample 0 (and after its end)."""
    full = np.convolve(pcm_to_float(x48), decimation_filter())
    n_out = len(x48) // DECIMATION
    return full[FIR_HALF : FIR_HALF + DECIMATION * n_out : DECIMATION]


def log_mel_offline(x16: np.ndarray) -> np.ndarray:
    """Mel frame i of 16 kHz audio covers samples [160 i, 160 i + 400): whole frames only."""
    if len(x16) < WIN:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x16, WIN)[::HOP]
    return frames_to_log_mel(frames)


def centre_mel(frame: int) -> int:
    """The mel frame centred on video frame `frame`'s centre (timeline 1920 n + 960 = 480 (4 n + 2))."""
    return MELS_PER_VIDEO_FRAME * frame + MELS_PER_VIDEO_FRAME // 2


def timeline_origin(first_mel: int) -> int:
    """Timeline sample where feature extraction must begin so that its first frame is mel frame `first_mel`."""
    return first_mel * TIMELINE_PER_MEL - (WIN // 2) * DECIMATION


def mel_ready_at(mel_index: int) -> int:
    """Timeline samples (exclusive end) that must exist before mel frame `mel_index` can be computed."""
    last_16k = mel_index * HOP + WIN // 2 - 1
    return DECIMATION * last_16k + FIR_HALF + 1


def timeline_log_mel(pcm48: np.ndarray, first_mel: int, start_sample: int = 0) -> np.ndarray:
    """Offline log-mel of timeline audio `pcm48` that starts at `start_sample`, silence before it.

    Returns every mel frame from `first_mel` on that the audio fully covers (the future past its end is unknown).
    """
    origin = timeline_origin(first_mel)
    lead = start_sample - origin
    if lead < 0:
        raise ValueError(f"first_mel {first_mel} would need audio before the stream start {start_sample}")
    padded = np.concatenate([np.zeros(lead), pcm_to_float(pcm48)])
    x16 = decimate_offline(padded)
    usable = (len(padded) - FIR_HALF - 1) // DECIMATION + 1  # 16 kHz samples whose FIR span is all known
    return log_mel_offline(x16[: max(0, min(usable, len(x16)))])


class StreamingDecimator:
    """48 -> 16 kHz with the zero-phase FIR, fed chunk by chunk; silence is assumed before the first sample."""

    def __init__(self) -> None:
        self._taps = decimation_filter()[::-1].copy()
        self._history = np.zeros(FIR_HALF)  # the FIR's past half reaches before the first sample
        self._history_start = -FIR_HALF  # input index of self._history[0]
        self._next_out = 0  # index of the next 16 kHz sample to produce

    def push(self, x48: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._history, pcm_to_float(x48)])
        end = self._history_start + len(buf)  # input samples known: [.., end)
        n_ready = max(0, (end - 1 - FIR_HALF) // DECIMATION + 1 - self._next_out)
        out = np.empty(0)
        if n_ready:
            first_in = DECIMATION * self._next_out - FIR_HALF - self._history_start
            windows = np.lib.stride_tricks.sliding_window_view(buf[first_in:], FIR_TAPS)[::DECIMATION][:n_ready]
            out = windows @ self._taps
            self._next_out += n_ready
        keep_from = DECIMATION * self._next_out - FIR_HALF - self._history_start
        self._history = buf[keep_from:]
        self._history_start += keep_from
        return out


class StreamingLogMel:
    """Consecutive mel frames from timeline audio pushed in order.

    Its first frame is mel frame k when the first sample pushed is timeline sample `timeline_origin(k)`; callers
    push silence from there up to the real audio (`NetworkFaceStream` does).
    """

    def __init__(self) -> None:
        self._decimator = StreamingDecimator()
        self._pending = np.zeros(0)  # 16 kHz samples not yet consumed by a whole hop

    def push(self, pcm48: np.ndarray) -> np.ndarray:
        """Returns the (n, N_MELS) frames that became computable."""
        self._pending = np.concatenate([self._pending, self._decimator.push(pcm48)])
        n_frames = 0 if len(self._pending) < WIN else (len(self._pending) - WIN) // HOP + 1
        if n_frames == 0:
            return np.zeros((0, N_MELS), dtype=np.float32)
        mels = log_mel_offline(self._pending[: (n_frames - 1) * HOP + WIN])
        self._pending = self._pending[n_frames * HOP :]
        return mels
