"""Measurements on what a client received, for tests and benchmarks: the returned audio as one stream, where a
sent signal sits in it, and how far the avatar's mouth is open in a video frame."""
from __future__ import annotations

import bisect

import cv2
import numpy as np

from client.avatar_client import ReceivedAudio

# Pixels darker than this inside the mouth box are the open mouth's cavity; the lips and skin are far brighter.
CAVITY_LEVEL = 80


def received_stream(audio: list[ReceivedAudio]) -> tuple[np.ndarray, int]:
    """The received audio laid out by pts (lost packets as silence), and the pts of its first sample."""
    first = audio[0].pts
    out = np.zeros(audio[-1].pts + len(audio[-1].pcm) - first, dtype=np.int16)
    for packet in audio:
        out[packet.pts - first : packet.pts - first + len(packet.pcm)] = packet.pcm
    return out, first


def arrival_of(audio: list[ReceivedAudio], pts: int) -> float | None:
    """Arrival time of the received packet holding sample `pts`, or None if it never came."""
    index = bisect.bisect_right([packet.pts for packet in audio], pts) - 1
    if index < 0 or pts >= audio[index].pts + len(audio[index].pcm):
        return None
    return audio[index].arrival


def best_lag(sent: np.ndarray, received: np.ndarray) -> int:
    """The offset in `received` at which `sent` matches best (cross-correlation)."""
    size = 1 << (len(sent) + len(received) - 1).bit_length()
    a, b = sent.astype(np.float64), received.astype(np.float64)
    xcorr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    return int(np.argmax(xcorr[: max(1, len(received) - len(sent) + 1)]))


def mouth_opening(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Share of the mouth box showing the dark mouth cavity: about 0.01 closed, 0.2 with the jaw fully open,
    close to linear in the jaw opening above a tenth of it (astronaut avatar). Unlike a difference to a reference
    frame it ignores the head's idle motion."""
    x0, y0, x1, y1 = box
    gray = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return float((gray < CAVITY_LEVEL).mean())
