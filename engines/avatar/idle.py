"""Idle life as pure functions of (seed, frame index): blinks, a slow drifting head, breathing.

No wall clock, and the only state is a blink timetable that grows deterministically from the seed, so any frame
can be rendered again identically, in any order (tests, replays, several workers), and a stalled session resumes
exactly where its timeline is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.timebase import FPS

BLINK_MIN_S, BLINK_MAX_S = 2.0, 6.0
# Lid closure per frame of one blink: fast down, short hold, slower up (about 280 ms).
BLINK_SHAPE = np.array([0.45, 0.9, 1.0, 0.75, 0.4, 0.12], dtype=np.float32)
DOUBLE_BLINK_CHANCE = 0.12
BREATH_PERIOD_S = 4.2


@dataclass(frozen=True)
class Pose:
    """Forward head motion in pixels and radians, and the breathing phase value in [-1, 1]."""

    dx: float
    dy: float
    roll: float
    breath: float


class IdleMotion:
    def __init__(self, seed: int, head_px: float = 1.6, roll_rad: float = 0.006) -> None:
        rng = np.random.default_rng(seed)
        self._rng = np.random.default_rng(rng.integers(2**63))
        self._blink_starts: list[int] = []
        self._next_start = int(rng.uniform(0.5, BLINK_MAX_S) * FPS)
        # Head drift: a few slow sines with unrelated periods (7-23 s) and random phases never repeat visibly.
        self._freqs = rng.uniform(1 / 23, 1 / 7, size=(3, 3)) * 2 * np.pi / FPS
        self._phases = rng.uniform(0, 2 * np.pi, size=(3, 3))
        self._amps = np.array([head_px, head_px * 0.7, roll_rad], dtype=np.float64)
        self._breath_phase = float(rng.uniform(0, 2 * np.pi))

    def blink(self, frame: int) -> float:
        """Lid closure in [0, 1] at this frame."""
        self._schedule_until(frame)
        i = np.searchsorted(self._blink_starts, frame, side="right") - 1
        if i < 0:
            return 0.0
        k = frame - self._blink_starts[i]
        return float(BLINK_SHAPE[k]) if k < len(BLINK_SHAPE) else 0.0

    def pose(self, frame: int) -> Pose:
        waves = np.sin(self._freqs * frame + self._phases).sum(axis=1) / 3
        dx, dy, roll = waves * self._amps
        breath = np.sin(2 * np.pi * frame / (BREATH_PERIOD_S * FPS) + self._breath_phase)
        return Pose(float(dx), float(dy), float(roll), float(breath))

    def _schedule_until(self, frame: int) -> None:
        """Extend the blink timetable; it only ever grows, so earlier frames never change."""
        while self._next_start <= frame:
            start = self._next_start
            self._blink_starts.append(start)
            if self._rng.random() < DOUBLE_BLINK_CHANCE:
                self._blink_starts.append(start + len(BLINK_SHAPE) + 1)
                start += len(BLINK_SHAPE) + 1
            self._next_start = start + int(self._rng.uniform(BLINK_MIN_S, BLINK_MAX_S) * FPS)
