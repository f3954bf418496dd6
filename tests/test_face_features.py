"""Log-mel features: the offline computation against independent references, and streaming against offline."""
import numpy as np
import pytest
import torch
from scipy import signal

from engines.face import features as F


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonics with a wandering pitch plus noise bursts: energy across the whole mel range."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 48_000)) / 48_000
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 48_000
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    bursts = rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2.3 * t) > 0.6)
    return (np.clip(0.3 * voiced + 0.2 * bursts, -1, 1) * 20_000).astype(np.int16)


def test_decimation_matches_scipy_resample_poly():
    x = speechlike(1.0)
    reference = signal.resample_poly(x / 32768.0, 1, 3, window=F.decimation_filter())
    np.testing.assert_allclose(F.decimate_offline(x), reference, atol=1e-12)


def test_decimation_removes_what_would_alias():
    t = np.arange(48_000) / 48_000
    alias = (np.sin(2 * np.pi * 12_000 * t) * 16_000).astype(np.int16)  # would fold to 4 kHz at 16 kHz
    assert np.abs(F.decimate_offline(alias)[100:-100]).max() < 0.01 * 16_000 / 32768


def test_log_mel_matches_torch_stft():
    x16 = F.decimate_offline(speechlike(1.0))
    spec = torch.stft(
        torch.from_numpy(x16),
        n_fft=F.N_FFT,
        hop_length=F.HOP,
        win_length=F.WIN,
        window=torch.hann_window(F.WIN, periodic=True, dtype=torch.float64),
        center=False,
        return_complex=True,
    )
    expected = np.log((spec.abs().numpy().T ** 2) @ F.mel_filterbank().T.astype(np.float64) + F.LOG_FLOOR)
    # torch centres the 400-sample window inside each 512-sample frame; ours starts at the frame's first sample.
    ours = F.log_mel_offline(x16[(F.N_FFT - F.WIN) // 2 :])
    n = min(len(ours), len(expected))
    assert n > 90 and ours.shape[1] == F.N_MELS
    np.testing.assert_allclose(ours[:n], expected[:n], atol=1e-3)


def test_mel_filters_peak_at_their_centres_and_cover_the_range():
    bank = F.mel_filterbank()
    assert bank.shape == (F.N_MELS, F.N_FFT // 2 + 1)
    peaks = bank.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0) and bank.max() <= 1.0
    hz = np.arange(F.N_FFT // 2 + 1) * F.FEATURE_RATE / F.N_FFT
    covered = bank.sum(axis=0) > 0
    assert covered[(hz > 100) & (hz < 7_000)].all() and not covered[hz > F.F_MAX + 100].any()


def test_mel_frames_are_centred_on_the_timeline():
    """A click at timeline sample 480 k lights mel frame k the most."""
    click_frame = 37
    x = np.zeros(48_000, dtype=np.int16)
    x[click_frame * F.TIMELINE_PER_MEL] = 30_000
    mels = F.timeline_log_mel(x, first_mel=0)
    assert int(np.argmax(mels.sum(axis=1))) == click_frame
    video_frame = 5
    assert F.centre_mel(video_frame) * F.TIMELINE_PER_MEL == video_frame * 1920 + 960


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_equals_offline(seed):
    rng = np.random.default_rng(seed)
    x = speechlike(2.0, seed)
    start, first_mel = 7_777, 3
    offline = F.timeline_log_mel(x, first_mel=first_mel, start_sample=start)
    stream = F.StreamingLogMel()
    chunks = [stream.push(np.zeros(start - F.timeline_origin(first_mel), dtype=np.int16))]
    i = 0
    while i < len(x):
        n = int(rng.integers(1, 3_000))
        chunks.append(stream.push(x[i : i + n]))
        i += n
    streamed = np.concatenate(chunks)
    assert streamed.shape == offline.shape and len(offline) > 150
    np.testing.assert_allclose(streamed, offline, atol=1e-4)


def test_a_mel_frame_becomes_available_exactly_when_its_samples_are_in():
    k = 20
    origin = F.timeline_origin(0)  # the stream's first sample is this timeline sample, its first frame mel 0
    needed = F.mel_ready_at(k) - origin
    x = speechlike(0.5)
    stream = F.StreamingLogMel()
    assert len(stream.push(x[: needed - 1])) == k  # frames 0 .. k-1
    assert len(stream.push(x[needed - 1 : needed])) == 1
