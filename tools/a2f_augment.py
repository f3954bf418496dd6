"""Waveform augmentations for the audio-to-face data set: what a voice goes through on its way to the server.

A room (reverberation), a microphone (EQ, band limits), background noise, a gain, and the codec of a call (Opus at
low bitrates, G.711 mu-law or A-law at 8 kHz, through PyAV's own encoders). Each changes how the speech sounds but
not which mouth shapes it needs, and none shifts it in time (the codecs' delays are taken out), so the targets stay
valid; speed also rescales the phoneme times, which the caller applies through the returned time factor.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from scipy import fft, signal

RATE = 48_000
CODECS = ("opus", "mulaw", "alaw")
OPUS_PRESKIP = 312  # samples at 48 kHz that libopus's decoder output lags its input


@dataclass(frozen=True)
class Augmentation:
    speed: float = 1.0  # > 1 plays faster (shorter, higher)
    gain_db: float = 0.0
    tilt_db: float = 0.0  # spectral tilt: + boosts highs, - boosts lows (a cheap microphone or a muffled room)
    peak_hz: float = 1_000.0  # centre of one random resonance
    peak_db: float = 0.0
    snr_db: float | None = None  # None: no noise
    noise_colour: float = 0.0  # 0 white, 1 pink, 2 brown
    rt60_s: float = 0.0  # reverberation time of the room; 0: none
    wet: float = 0.0  # reverberant share of the sound
    band_hz: tuple[float, float] | None = None  # high-pass and low-pass corners; None: full band
    codec: str | None = None  # one of CODECS
    opus_kbps: int = 16

    @staticmethod
    def random(rng: np.random.Generator) -> Augmentation:
        return Augmentation(
            speed=float(rng.uniform(0.88, 1.15)) if rng.random() < 0.5 else 1.0,
            gain_db=float(rng.uniform(-24, 4)),
            tilt_db=float(rng.uniform(-9, 9)) if rng.random() < 0.6 else 0.0,
            peak_hz=float(np.exp(rng.uniform(np.log(300), np.log(5_000)))),
            peak_db=float(rng.uniform(-10, 10)) if rng.random() < 0.5 else 0.0,
            snr_db=float(rng.choice([0, 5, 10, 20, 30]) + rng.uniform(0, 5)) if rng.random() < 0.7 else None,
            noise_colour=float(rng.choice([0.0, 1.0, 2.0])),
            rt60_s=float(rng.uniform(0.15, 0.9)) if rng.random() < 0.4 else 0.0,
            wet=float(rng.uniform(0.1, 0.6)),
            band_hz=(float(rng.uniform(60, 300)), float(rng.choice([3_400, 4_000, 5_500, 7_000])))
            if rng.random() < 0.4 else None,
            codec=str(rng.choice(CODECS)) if rng.random() < 0.4 else None,
            opus_kbps=int(rng.choice([6, 8, 12, 16, 24])),
        )


def change_speed(x: np.ndarray, speed: float) -> np.ndarray:
    if speed == 1.0:
        return x
    ratio = Fraction(speed).limit_denominator(50)
    return signal.resample_poly(x, ratio.denominator, ratio.numerator)


def equalise(x: np.ndarray, tilt_db: float, peak_hz: float, peak_db: float) -> np.ndarray:
    """A first-order tilt split at 1 kHz plus one peaking band (RBJ biquad)."""
    if tilt_db:
        low = signal.lfilter(*signal.butter(1, 1_000, fs=RATE), x)
        high = x - low
        x = low * 10 ** (-tilt_db / 40) + high * 10 ** (tilt_db / 40)
    if peak_db:
        a_gain = 10 ** (peak_db / 40)
        w0 = 2 * np.pi * peak_hz / RATE
        alpha = np.sin(w0) / (2 * 1.2)
        b = [1 + alpha * a_gain, -2 * np.cos(w0), 1 - alpha * a_gain]
        a = [1 + alpha / a_gain, -2 * np.cos(w0), 1 - alpha / a_gain]
        x = signal.lfilter(b, a, x)
    return x


def coloured_noise(n: int, colour: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with a 1/f^colour power spectrum, unit RMS."""
    size = fft.next_fast_len(n, real=True)
    spectrum = fft.rfft(rng.standard_normal(size))
    freqs = np.maximum(fft.rfftfreq(size, 1 / RATE), 20.0)
    noise = fft.irfft(spectrum / freqs ** (colour / 2), size)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def reverberate(x: np.ndarray, rt60_s: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """A room: the direct sound plus exponentially decaying noise (RT60 `rt60_s`) that starts 2 ms later."""
    if rt60_s <= 0:
        return x
    t = np.arange(int(rt60_s * RATE)) / RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60_s)
    tail[: int(0.002 * RATE)] = 0.0
    tail *= np.sqrt(wet / (1 - wet)) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    return x + signal.fftconvolve(x, tail)[: len(x)]


def band_limit(x: np.ndarray, band_hz: tuple[float, float] | None) -> np.ndarray:
    """A zero-phase band-pass (a telephone line, a small loudspeaker, a cheap microphone)."""
    if band_hz is None:
        return x
    return signal.sosfiltfilt(signal.butter(4, band_hz, btype="bandpass", fs=RATE, output="sos"), x)


def codec_roundtrip(x: np.ndarray, codec: str | None, opus_kbps: int = 16) -> np.ndarray:
    """Encode and decode with Opus (48 kHz, `opus_kbps`) or G.711 (8 kHz); same length and timing as `x`."""
    if codec is None:
        return x
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; known: {CODECS}")
    rate = RATE if codec == "opus" else 8_000
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    if rate != RATE:
        pcm = signal.resample_poly(pcm.astype(np.float64), 1, RATE // rate).astype(np.float64)
        pcm = np.clip(np.round(pcm), -32768, 32767).astype(np.int16)
    encoder = av.CodecContext.create({"opus": "libopus", "mulaw": "pcm_mulaw", "alaw": "pcm_alaw"}[codec], "w")
    encoder.sample_rate, encoder.layout, encoder.format = rate, "mono", "s16"
    encoder.time_base = Fraction(1, rate)
    if codec == "opus":
        encoder.bit_rate = opus_kbps * 1000
    encoder.open()
    decoder = av.CodecContext.create(encoder.name, "r")
    decoder.sample_rate, decoder.layout = rate, "mono"
    size = encoder.frame_size or 960
    padded = np.concatenate([pcm, np.zeros(-len(pcm) % size + size, np.int16)])
    decoded = []
    for at in range(0, len(padded), size):
        frame = av.AudioFrame.from_ndarray(padded[None, at : at + size], format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, at
        decoded += [d.to_ndarray().reshape(-1) for p in encoder.encode(frame) for d in decoder.decode(p)]
    decoded += [d.to_ndarray().reshape(-1) for p in encoder.encode(None) for d in decoder.decode(p)]
    y = np.concatenate(decoded).astype(np.float64) / 32768.0
    if codec == "opus":
        return np.pad(y[OPUS_PRESKIP:], (0, len(x)))[: len(x)]
    return np.pad(signal.resample_poly(y, RATE // rate, 1), (0, len(x)))[: len(x)]


def apply(x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """float audio in [-1, 1] at 48 kHz -> augmented float audio (length changes with speed)."""
    y = equalise(change_speed(x, aug.speed), aug.tilt_db, aug.peak_hz, aug.peak_db)
    y = reverberate(y, aug.rt60_s, aug.wet, rng)
    if aug.snr_db is not None:
        speech_rms = np.sqrt(np.mean(y[np.abs(y) > 1e-4] ** 2)) if np.any(np.abs(y) > 1e-4) else 1e-3
        y = y + coloured_noise(len(y), aug.noise_colour, rng) * speech_rms * 10 ** (-aug.snr_db / 20)
    y = band_limit(y, aug.band_hz) * 10 ** (aug.gain_db / 20)
    peak = np.abs(y).max()
    y = y / peak * 0.99 if peak > 0.99 else y
    return codec_roundtrip(y, aug.codec, aug.opus_kbps)
