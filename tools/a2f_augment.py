"""Waveform augmentations for the audio-to-face data set: what a voice goes through on its way to the server.

Each one changes how the speech sounds but not which mouth shapes it needs, so targets stay valid (speed also
rescales the phoneme times, which the caller applies through the returned time factor).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import fft, signal

RATE = 48_000


@dataclass(frozen=True)
class Augmentation:
    speed: float = 1.0  # > 1 plays faster (shorter, higher)
    gain_db: float = 0.0
    tilt_db: float = 0.0  # spectral tilt: + boosts highs, - boosts lows (a cheap microphone or a muffled room)
    peak_hz: float = 1_000.0  # centre of one random resonance
    peak_db: float = 0.0
    snr_db: float | None = None  # None: no noise
    noise_colour: float = 0.0  # 0 white, 1 pink, 2 brown

    @staticmethod
    def random(rng: np.random.Generator) -> Augmentation:
        return Augmentation(
            speed=float(rng.uniform(0.88, 1.15)) if rng.random() < 0.5 else 1.0,
            gain_db=float(rng.uniform(-24, 4)),
            tilt_db=float(rng.uniform(-9, 9)) if rng.random() < 0.6 else 0.0,
            peak_hz=float(np.exp(rng.uniform(np.log(300), np.log(5_000)))),
            peak_db=float(rng.uniform(-10, 10)) if rng.random() < 0.5 else 0.0,
            snr_db=float(rng.uniform(8, 45)) if rng.random() < 0.7 else None,
            noise_colour=float(rng.choice([0.0, 1.0, 2.0])),
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


def apply(x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """float audio in [-1, 1] at 48 kHz -> augmented float audio (length changes with speed)."""
    y = equalise(change_speed(x, aug.speed), aug.tilt_db, aug.peak_hz, aug.peak_db)
    if aug.snr_db is not None:
        speech_rms = np.sqrt(np.mean(y[np.abs(y) > 1e-4] ** 2)) if np.any(np.abs(y) > 1e-4) else 1e-3
        y = y + coloured_noise(len(y), aug.noise_colour, rng) * speech_rms * 10 ** (-aug.snr_db / 20)
    y = y * 10 ** (aug.gain_db / 20)
    peak = np.abs(y).max()
    return y / peak * 0.99 if peak > 0.99 else y
