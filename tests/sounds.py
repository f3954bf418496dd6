"""Test sounds at the 48 kHz timeline rate: a spoken phrase, and what else a voice-mode microphone picks up;
and the way a detector hears them (20 ms packets, as WebRTC delivers audio)."""
from __future__ import annotations

import numpy as np
from scipy import signal

from engines.resample import resample
from engines.timebase import TIMELINE_RATE
from engines.tts.registry import VoiceRegistry
from engines.vad.base import Transition, VoiceActivityDetector

PACKET = 960


def spoken_phrase() -> np.ndarray:
    """"Nice to see you again." by espeak-ng, from its first sound to its last."""
    engine, voice = VoiceRegistry(["espeak"], default="espeak").resolve("espeak:en-us")
    s = engine.synthesize("Nice to see you again.", voice)
    pcm = resample(s.pcm, s.sample_rate, TIMELINE_RATE)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return pcm[loud[0] : loud[-1] + 1]


def detect(vad: VoiceActivityDetector, pcm: np.ndarray) -> list[Transition]:
    """Every transition the detector reports for `pcm` pushed in 20 ms packets from timeline sample 0."""
    transitions = []
    for start in range(0, len(pcm), PACKET):
        transitions += vad.push(start, pcm[start : start + PACKET])
    return transitions


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * TIMELINE_RATE), dtype=np.int16)


def noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """White noise at `dbfs` RMS."""
    rms = 32768 * 10 ** (dbfs / 20)
    return np.random.default_rng(seed).normal(0, rms, int(seconds * TIMELINE_RATE)).astype(np.int16)


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Plucked harmonic notes, four a second on a minor scale, with a noise-burst drum on every other beat."""
    rng = np.random.default_rng(seed)
    n = int(seconds * TIMELINE_RATE)
    t = np.arange(n) / TIMELINE_RATE
    y = np.zeros(n)
    beat = TIMELINE_RATE // 4
    for k in range(n // beat):
        a, b = k * beat, (k + 1) * beat
        pitch = 220.0 * 2 ** (rng.choice([0, 2, 3, 5, 7, 8, 10, 12]) / 12)
        envelope = np.exp(-np.arange(b - a) / TIMELINE_RATE * 6)
        for harmonic in range(1, 6):
            y[a:b] += envelope * np.sin(2 * np.pi * pitch * harmonic * t[a:b]) / harmonic
        if k % 2 == 0:
            y[a : a + 2000] += rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300) * 0.5
    return (y / np.abs(y).max() * 12000).astype(np.int16)


def clicks(seconds: float, every_s: float = 0.5) -> np.ndarray:
    """Loud 2 ms clicks (a tapped microphone, a keyboard) in silence."""
    y = silence(seconds)
    for at in range(0, len(y) - 100, int(every_s * TIMELINE_RATE)):
        y[at : at + 100] = 20000
    return y


def breaths(seconds: float, seed: int = 0) -> np.ndarray:
    """Half-second breaths: band-passed noise swelling and fading, one every 1.2 s."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * TIMELINE_RATE))
    length = TIMELINE_RATE // 2
    sos = signal.butter(2, [500, 3000], "bandpass", fs=TIMELINE_RATE, output="sos")
    for at in range(int(0.3 * TIMELINE_RATE), len(y) - length, int(1.2 * TIMELINE_RATE)):
        y[at : at + length] = signal.sosfilt(sos, rng.standard_normal(length)) * np.hanning(length) * 3000
    return y.astype(np.int16)
