"""A piper utterance to feed to the avatar as an agent framework's TTS would (synthesized once per process), where
the speech lies in audio, and the renderer parameters of a spoken sentence."""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from engines.face.gestures import GestureStream
from engines.face.visemes import mouth_curves
from engines.resample import resample
from engines.timebase import FPS, SAMPLES_PER_FRAME, TIMELINE_RATE
from engines.tts.registry import build_engine

SENTENCE = "Hello there! I am the avatar, and I speak whatever your agent says."
TALKING = "The quick brown fox jumps over the lazy dog, and then it runs away into the forest."


@lru_cache(maxsize=4)
def piper_utterance(text: str = SENTENCE) -> tuple[np.ndarray, int]:
    """int16 mono audio of `text` in piper's joe voice, at piper's own rate (22.05 kHz), and that rate."""
    speech = build_engine("piper").synthesize(text)
    return speech.pcm, speech.sample_rate


def piper_utterance_48k(text: str = SENTENCE) -> np.ndarray:
    pcm, rate = piper_utterance(text)
    return resample(pcm, rate, TIMELINE_RATE)


def chunks(pcm: np.ndarray, samples: int) -> list[np.ndarray]:
    return [pcm[i : i + samples] for i in range(0, len(pcm), samples)]


def speech_bounds(pcm: np.ndarray, level: int = 500) -> tuple[int, int]:
    """First and last sample louder than `level`."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > level)
    return int(loud[0]), int(loud[-1])


def talking_params(text: str = TALKING) -> tuple[np.ndarray, float]:
    """Renderer parameters (frames, N_FRAME_PARAMS) of one spoken sentence (espeak-ng): its viseme curves and the
    head and brow motion its audio drives (GestureStream), and the gesture stream's CPU ms per frame."""
    speech = build_engine("espeak").synthesize(text)
    n = int(np.ceil(speech.duration * FPS))
    curves = mouth_curves(speech.phonemes, (np.arange(n) + 0.5) / FPS)
    pcm = resample(speech.pcm, speech.sample_rate, TIMELINE_RATE)
    pcm = np.pad(pcm, (0, (n + 1) * SAMPLES_PER_FRAME - len(pcm)))  # whole frames, and the last one's window
    started = time.process_time()
    stream = GestureStream(seed=0)
    gestures = np.concatenate([stream.push(pcm[i: i + SAMPLES_PER_FRAME]).params
                               for i in range(0, len(pcm), SAMPLES_PER_FRAME)]
                              + [stream.flush().params])
    gesture_ms = (time.process_time() - started) * 1e3 / len(gestures)
    return np.concatenate([curves, gestures[:n]], axis=1).astype(np.float32), gesture_ms
