"""Idle life as pure functions of (seed, frame index): blinks, glances, a slow drifting head, breathing.

No wall clock, and the only state is a blink and a glance timetable that grow deterministically from the seed, so
any frame can be rendered again identically, in any order (tests, replays, several workers), and a stalled session
resumes exactly where its timeline is.
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
# Glances: every 1.5-5 s the eyes jump (a saccade, over two frames) to a point near the camera, and after
# 0.3-1.5 s jump back to it; now and then a second small jump comes before the return.
GLANCE_EVERY_S = (1.5, 5.0)
GLANCE_HOLD_S = (0.3, 1.5)
GLANCE_REACH = 0.8  # largest glance, in units of the renderer's gaze shift
SACCADE_STEP = 0.6  # share of a saccade covered in its first frame


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
        self._glance_rng = np.random.default_rng(rng.integers(2**63))
        self._glance_frames: list[int] = [0]  # frames at which the gaze starts moving to _glance_targets[i]
        self._glance_targets: list[tuple[float, float]] = [(0.0, 0.0)]
        self._next_glance = int(self._glance_rng.uniform(*GLANCE_EVERY_S) * FPS)

    def blink(self, frame: int) -> float:
        """Lid closure in [0, 1] at this frame."""
        self._schedule_until(frame)
        i = np.searchsorted(self._blink_starts, frame, side="right") - 1
        if i < 0:
            return 0.0
        k = frame - self._blink_starts[i]
        return float(BLINK_SHAPE[k]) if k < len(BLINK_SHAPE) else 0.0

    def gaze(self, frame: int) -> tuple[float, float]:
        """Where the eyes look at this frame (x right, y down; 0, 0 = into the camera), in gaze-shift units."""
        self._glances_until(frame)
        i = int(np.searchsorted(self._glance_frames, frame, side="right")) - 1
        target = np.array(self._glance_targets[i])
        if frame == self._glance_frames[i] and i > 0:
            before = np.array(self._glance_targets[i - 1])
            target = before + SACCADE_STEP * (target - before)
        return float(target[0]), float(target[1])

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

    def _glances_until(self, frame: int) -> None:
        """Extend the glance timetable (it only grows): away, perhaps a second jump, then back to the camera."""
        rng = self._glance_rng
        while self._next_glance <= frame:
            at = self._next_glance
            for _ in range(1 + int(rng.random() < 0.25)):
                angle, reach = rng.uniform(0, 2 * np.pi), GLANCE_REACH * np.sqrt(rng.uniform(0.15, 1.0))
                self._glance_frames.append(at)
                self._glance_targets.append((reach * np.cos(angle), 0.6 * reach * np.sin(angle)))
                at += max(2, int(rng.uniform(*GLANCE_HOLD_S) * FPS))
            self._glance_frames.append(at)
            self._glance_targets.append((0.0, 0.0))
            self._next_glance = at + int(rng.uniform(*GLANCE_EVERY_S) * FPS)
