"""Measurements on what a client received: audio energy and mouth motion over arrival-time windows."""
from __future__ import annotations

import numpy as np

from client import ReceivedAudio, ReceivedVideo
from harness.render_parity import rgb_dark_share


def audio_rms(audio: list[ReceivedAudio], start: float, end: float) -> float:
    chunks = [a.pcm for a in audio if start <= a.arrival < end]
    if not chunks:
        return 0.0
    pcm = np.concatenate(chunks).astype(np.float64)
    return float(np.sqrt(np.mean(pcm**2)))


def loud_frames(audio: list[ReceivedAudio], start: float, end: float, level: float = 300.0) -> int:
    return sum(1 for a in audio if start <= a.arrival < end and np.sqrt(np.mean(a.pcm.astype(float) ** 2)) > level)


def crop(image: np.ndarray, box: tuple[int, int, int, int], pad: int = 6) -> np.ndarray:
    x0, y0, x1, y1 = box
    return image[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad].astype(np.float32)


def mouth_change(video: list[ReceivedVideo], box: tuple[int, int, int, int], start: float, end: float) -> list[float]:
    """Mean absolute change of the mouth region from one frame to the next, for frames in the window."""
    frames = [crop(v.image, box) for v in video if start <= v.arrival < end]
    return [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:])]


def mouth_darkness(video: list[ReceivedVideo], box: tuple[int, int, int, int], start: float, end: float) -> list[float]:
    """Share of dark (cavity) pixels in the mouth region per frame: how open the mouth is, whatever the head's
    idle drift does to the rest of the picture."""
    return [rgb_dark_share(v.image, box) for v in video if start <= v.arrival < end]


def fps(times: list[tuple[float, int]], start: float, end: float) -> float:
    arrivals = [t for t, _ in times if start <= t < end]
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 2 else 0.0
