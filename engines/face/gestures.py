"""Head and brow motion that goes with the speech, from the audio alone (engines/timebase.py GESTURE_PARAMS).

People who talk move their head on the beat of their speech: small nods on stressed syllables, a settling nod at
the end of a phrase, a posture (a tilt, a slight turn) held through a phrase and dropped in the pause after it,
and a brief brow raise on an emphasized word. All of this is read from the audio's loudness and pitch
(engines/face/prosody.py), so it works the same for synthesized speech, a live voice and any language:

- a stressed syllable is a local loudness peak that stands out from the 240 ms before it; its strength grows with
  its loudness against the voice's running speech level, its prominence and its pitch against the voice's running
  pitch; a strong one nods the head (mostly down, sometimes up), a strong one that is also high in pitch lifts the
  brows;
- a phrase starts where speech follows a pause, and picks a new posture; a pause of a quarter second ends the
  phrase with a small nod and lets the posture settle back to neutral, where the renderer's idle motion is all
  that is left.

Every gesture is a raised-cosine bump (a third of a second for a nod) that starts and ends with zero velocity, and the posture follows its target on a
critically damped spring, so motion never jumps while speech starts, pauses and stops. Random
choices (how big a nod is, which way a phrase tilts) come from a generator seeded by (seed, frame), so a stream's
output depends only on its seed and its audio, not on how the audio was cut into pushes. Cost: about 0.1 ms of
CPU per video frame. Look-ahead: two video frames (a peak is a peak once the next frame is quieter).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from engines.face.prosody import (
    HALF_WINDOW,
    SILENCE_DB,
    StreamingProsody,
    first_frame_at,
)
from engines.timebase import (
    FPS,
    GESTURE_PARAMS,
    N_GESTURES,
    SAMPLES_PER_FRAME,
    FrameParams,
)

NOD, TILT, TURN, BROW = (GESTURE_PARAMS.index(n) for n in ("head_nod", "head_tilt", "head_turn", "brow_raise"))
DECISION_FRAMES = 2  # a stressed syllable is found once the frames after its loudness peak are known

# Voice tracking (dB and semitones, per frame).
_FLOOR_RISE_DB = 0.03  # the noise floor follows quieter frames at once, louder ones this slowly
_LEVEL_RATE = 0.05  # how fast the speech level follows loud frames
_PITCH_RATE = 0.03
_ACTIVE_ABOVE_FLOOR_DB = 12.0
_ACTIVE_BELOW_LEVEL_DB = 25.0
# Stressed syllables.
_PROMINENCE_FRAMES = 6  # a peak is measured against the quietest of this many frames before it
_MIN_PROMINENCE_DB = 3.0
_REFRACTORY_FRAMES = 4  # syllables are at least 160 ms apart
_MIN_STRENGTH = 0.25
_BROW_STRENGTH, _BROW_PITCH_Z = 0.55, 0.7
# Phrases.
_PHRASE_GAP_FRAMES = 8  # silence before speech that makes it a new phrase
_PHRASE_END_FRAMES = 6  # silence after speech that ends a phrase
_MIN_PHRASE_FRAMES = 10
_POSTURE_HZ = 0.5  # natural frequency of the posture spring (settles in about 0.7 s)


@dataclass(frozen=True)
class _Bump:
    """One gesture on parameter `param`: from `start`, a raised-cosine bump up to `amplitude` and back, `length`
    frames long (zero velocity at both ends)."""

    param: int
    start: int
    amplitude: float
    length: float

    def at(self, frame: int) -> float:
        t = (frame - self.start) / self.length
        return self.amplitude * math.sin(math.pi * t) ** 2 if 0.0 < t < 1.0 else 0.0

    def over(self, frame: int) -> bool:
        return frame - self.start >= self.length


class GestureStream:
    """One session's gestures. Timeline audio is pushed in order (int16, 48 kHz); every video frame whose
    gestures are computable comes out, numbered as engines/face/base.py FaceStream numbers them.

    `lookahead_frames` (0 to DECISION_FRAMES): how many frames after a frame must be heard before it comes out.
    With all of them, a nod starts on its stressed syllable; with fewer (voice mode, where every frame of look-ahead
    is held back from a live voice), it starts as many frames after it, which a viewer does not see as late."""

    def __init__(self, seed: int = 0, lookahead_frames: int = DECISION_FRAMES) -> None:
        if not 0 <= lookahead_frames <= DECISION_FRAMES:
            raise ValueError(f"lookahead_frames must be 0 to {DECISION_FRAMES}, not {lookahead_frames}")
        self._seed = seed
        self._lookahead = lookahead_frames
        self.lookahead_samples = lookahead_frames * SAMPLES_PER_FRAME + HALF_WINDOW  # past a frame's centre
        self._floor, self._level = -70.0, -22.0  # dB: a quiet room, speech at a usual level; both adapt
        self._pitch_mean: float | None = None
        self._pitch_spread = 2.0
        self.reset(0)

    def reset(self, start_sample: int) -> None:
        """Continue at `start_sample`, forgetting the audio before it and the motion it drove (a caller that shows
        the gestures eases the head from where it was: server/pipeline/mouth.py). What was learnt of the voice, its
        level and pitch range, is kept."""
        first = first_frame_at(start_sample)
        self._bumps: list[_Bump] = []
        self._posture = np.zeros(3, np.float64)  # nod, tilt, turn
        self._velocity = np.zeros(3, np.float64)
        self._target = np.zeros(3, np.float64)
        self._prosody = StreamingProsody(start_sample)
        self._history = deque([(SILENCE_DB, math.nan, False)] * (_PROMINENCE_FRAMES + 2),
                              maxlen=_PROMINENCE_FRAMES + DECISION_FRAMES + 2)
        self._history_frame = first - len(self._history)  # frame of self._history[0]
        self._next_decision = first
        self._next_out = first
        self._last_accent = -10**9
        self._silent_run = _PHRASE_GAP_FRAMES
        self._spoken_run = 0

    def push(self, pcm48: np.ndarray) -> FrameParams:
        """Append audio at the stream's end; the gestures (frames x N_GESTURES) of every frame now computable."""
        features = self._prosody.push(pcm48)
        out = []
        for loudness, pitch in zip(features.loudness_db, features.pitch_st):
            self._listen(float(loudness), float(pitch))
            newest = self._history_frame + len(self._history) - 1
            if newest - DECISION_FRAMES >= self._next_decision:
                self._decide(self._next_decision)
                self._next_decision += 1
            while newest - self._lookahead >= self._next_out:
                out.append(self._pose(self._next_out))
                self._next_out += 1
        first = self._next_out - len(out)
        return FrameParams(first, np.array(out, np.float32).reshape(-1, N_GESTURES))

    def flush(self) -> FrameParams:
        """Push the look-ahead's worth of silence, so the frames up to the current end come out."""
        return self.push(np.zeros(self.lookahead_samples, np.int16))

    def _listen(self, loudness: float, pitch: float) -> None:
        """Track the voice's noise floor, speech level and pitch range, and remember this frame."""
        if loudness < self._floor:
            self._floor = loudness
        else:
            self._floor = min(self._floor + _FLOOR_RISE_DB, loudness)
        active = loudness > max(self._floor + _ACTIVE_ABOVE_FLOOR_DB, self._level - _ACTIVE_BELOW_LEVEL_DB)
        if active and loudness > self._level - 15.0:
            self._level += _LEVEL_RATE * (loudness - self._level)
        if active and not math.isnan(pitch):
            if self._pitch_mean is None:
                self._pitch_mean = pitch
            deviation = pitch - self._pitch_mean
            self._pitch_mean += _PITCH_RATE * deviation
            self._pitch_spread += _PITCH_RATE * (abs(deviation) - self._pitch_spread)
        if len(self._history) == self._history.maxlen:
            self._history_frame += 1
        self._history.append((max(loudness, self._floor), pitch, active))

    def _decide(self, n: int) -> None:
        """Frame n's events (its features and DECISION_FRAMES after it are known): accents, phrase starts and
        ends. A gesture decided after its frame went out starts with the next frame out."""
        k = n - self._history_frame
        loud = [h[0] for h in self._history]
        smooth = [(loud[i - 1] + loud[i] + loud[i + 1]) / 3 for i in range(1, len(loud) - 1)]  # index i -> i + 1
        active = self._history[k][2]
        if active:
            self._spoken_run += 1
            if self._silent_run >= _PHRASE_GAP_FRAMES:
                self._phrase_starts(n)
            self._silent_run = 0
            peak = smooth[k - 1]
            if (peak >= smooth[k - 2] and peak > smooth[k] and n - self._last_accent >= _REFRACTORY_FRAMES):
                prominence = peak - min(smooth[max(k - 1 - _PROMINENCE_FRAMES, 0): k - 1])
                if prominence >= _MIN_PROMINENCE_DB:
                    self._accent(n, peak, prominence, self._pitch_z(k))
        else:
            self._silent_run += 1
            if self._silent_run == _PHRASE_END_FRAMES:
                self._phrase_ends(n)

    def _pose(self, n: int) -> list[float]:
        """Frame n's head pose and brows: the posture spring's step and the gestures under way."""
        self._step_posture()
        self._bumps = [b for b in self._bumps if not b.over(n)]
        pose = np.zeros(N_GESTURES, np.float64)
        pose[[NOD, TILT, TURN]] = self._posture
        for bump in self._bumps:
            pose[bump.param] += bump.at(n)
        pose[[NOD, TILT, TURN]] = np.tanh(pose[[NOD, TILT, TURN]])  # soft limit to [-1, 1]
        pose[BROW] = min(max(pose[BROW], 0.0), 1.0)
        return pose.tolist()

    def _pitch_z(self, k: int) -> float:
        """How far above the voice's usual pitch the peak is (in its usual spread), around frame index k."""
        pitches = [self._history[i][1] for i in (k - 1, k, k + 1) if 0 <= i < len(self._history)]
        voiced = [p for p in pitches if not math.isnan(p)]
        if not voiced or self._pitch_mean is None:
            return 0.0
        return (max(voiced) - self._pitch_mean) / max(self._pitch_spread, 1.0)

    def _accent(self, n: int, peak: float, prominence: float, pitch_z: float) -> None:
        loudness = min(max((peak - self._level + 9.0) / 12.0, 0.0), 1.0)
        strength = min(0.45 * loudness + 0.35 * min(prominence / 12.0, 1.0) + 0.25 * max(pitch_z, 0.0), 1.0)
        if strength < _MIN_STRENGTH:
            return
        self._last_accent = n
        rng = self._rng(n, 1)
        start = max(n, self._next_out)
        if rng.random() < strength + 0.2:  # not every stressed syllable moves the head
            sign = 1.0 if rng.random() < 0.8 else -1.0
            self._bumps.append(_Bump(NOD, start, sign * strength * rng.uniform(0.5, 0.9), rng.uniform(7.0, 10.0)))
            self._bumps.append(_Bump(TILT, start, strength * rng.uniform(-0.35, 0.35), rng.uniform(10.0, 14.0)))
            self._bumps.append(_Bump(TURN, start, strength * rng.uniform(-0.3, 0.3), rng.uniform(10.0, 16.0)))
        if strength >= _BROW_STRENGTH and pitch_z >= _BROW_PITCH_Z:
            self._bumps.append(_Bump(BROW, start, rng.uniform(0.7, 1.0) * min(strength + 0.3, 1.0), rng.uniform(12.0, 16.0)))

    def _phrase_starts(self, n: int) -> None:
        rng = self._rng(n, 2)
        self._target = np.array([rng.uniform(-0.15, 0.25), rng.uniform(-0.6, 0.6), rng.uniform(-0.5, 0.5)])

    def _phrase_ends(self, n: int) -> None:
        self._target = np.zeros(3)
        if self._spoken_run >= _MIN_PHRASE_FRAMES:
            rng = self._rng(n, 3)
            start = max(n, self._next_out)
            self._bumps.append(_Bump(NOD, start, rng.uniform(0.15, 0.3), rng.uniform(12.0, 16.0)))
        self._spoken_run = 0

    def _step_posture(self) -> None:
        omega, dt = 2 * math.pi * _POSTURE_HZ, 1.0 / FPS
        self._velocity += (omega * omega * (self._target - self._posture) - 2 * omega * self._velocity) * dt
        self._posture += self._velocity * dt

    def _rng(self, frame: int, kind: int) -> np.random.Generator:
        return np.random.default_rng([self._seed & 0xFFFFFFFF, frame, kind])
