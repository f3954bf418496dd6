"""Per-frame avatar rendering: mix precomputed warp fields, one remap of the head-and-shoulders box, then lids
and the mouth interior. About 2-2.5 ms of CPU per 512x512 frame on one core (docs/benchmarks.md).

The head moves by its idle drift plus the speech gestures (engines/timebase.py GESTURE_PARAMS), several pixels
during a nod. The rig's fields (mouth, lids, brows, gaze) are drawn on the photo's face, so they are carried along
with the head: the coarse mix by the head's rigid motion, the sharp residuals near the mouth and eyes by the whole
pixels the head moved there; the painted lids and mouth interior follow the head motion measured where they are.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.bundle import AvatarBundle
from engines.avatar.idle import IdleMotion, Pose
from engines.avatar.prepared import PreparedAvatar, Residual, prepared, upsample
from engines.timebase import GESTURE_PARAMS, N_FRAME_PARAMS, N_GESTURES, N_PARAMS

# Mean movement of the inner lips (pixels) at which the painted interior is fully on. It fades in from rest, so
# the rest frame is the photo itself and the first frames of speech never pop.
_INTERIOR_ON_MOVE = 3.0
JAW_LINEAR, JAW_CUBIC = 0.36, 0.3  # rig jaw = 0.36 j + 0.3 j^3: a third of the old opening in running speech
# Head motion at gesture 1, in face heights (forehead to chin) and radians: a nod of about 4 pixels at 512x512.
NOD_SHARE = 0.018
TURN_SHARE = 0.014
TILT_RAD = 0.03
_NOD, _TILT, _TURN, _BROW = (GESTURE_PARAMS.index(n) for n in ("head_nod", "head_tilt", "head_turn", "brow_raise"))


def mix_mouth(params: np.ndarray) -> np.ndarray:
    """Rig weights (MOUTH_SHAPES order) from mouth parameters: closing or tucking the lips wins over an open
    jaw, rounding over spread, and an open jaw while rounding makes an O."""
    jaw, spread, rnd, close, tuck = np.clip(np.nan_to_num(np.asarray(params, np.float32)[:N_PARAMS]), 0.0, 1.0)
    jaw = _conversational(jaw) * (1 - close) * (1 - 0.6 * tuck)
    return np.array([jaw, spread * (1 - 0.5 * rnd), rnd, close, tuck * (1 - close), jaw * rnd], dtype=np.float32)


def _conversational(jaw: float) -> float:
    """The rig's jaw opening for a jaw_open value: ordinary speech (0.3-0.6) opens the lips a few percent of the
    face height, as people talking at a table do; only the top of the range (an emphatic "ah") opens wide."""
    return JAW_LINEAR * jaw + JAW_CUBIC * jaw**3


class AvatarRenderer:
    """Renders one session's frames. Cheap to create: the heavy precomputation is shared per bundle."""

    def __init__(self, bundle: AvatarBundle, seed: int = 0) -> None:
        self.bundle = bundle
        self.idle = IdleMotion(seed)
        self._prep: PreparedAvatar = prepared(bundle)
        self._map = np.empty_like(self._prep.identity)
        self._fine = np.empty_like(self._prep.identity)

    def render(self, frame_index: int, params: np.ndarray, motion_frame: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame; a pure function of (seed, frame_index, params, motion_frame). `params` holds
        MOUTH_PARAMS, optionally followed by GESTURE_PARAMS. `motion_frame`: the frame whose idle head motion and
        breathing to show (default: `frame_index`; blinks and gaze are always `frame_index`'s)."""
        prep = self._prep
        mouth = mix_mouth(params)
        gestures = speech_gestures(params)
        blink = self.idle.blink(frame_index)
        motion = self._motion(frame_index if motion_frame is None else motion_frame, gestures)
        eyes = np.array([blink, gestures[_BROW], *self.idle.gaze(frame_index)], np.float32)
        rig = np.concatenate([mouth, eyes])

        x0, y0, x1, y1 = prep.box
        n_rig = len(rig)
        coarse = (motion @ prep.coarse[n_rig:]).reshape(prep.coarse_shape)
        if rig.any():
            moving = (rig @ prep.coarse[:n_rig]).reshape(prep.coarse_shape)
            coarse += cv2.warpAffine(moving, prep.head_follow(motion), coarse.shape[1::-1], flags=cv2.INTER_LINEAR)
        upsample(coarse, (x1 - x0, y1 - y0), out=self._fine)
        cv2.add(self._fine, prep.identity, dst=self._map)
        eye_shifts = motion @ prep.eye_global_motion
        _add_residual(self._map, prep.box, prep.mouth_residual, mouth, motion @ prep.mouth_global_motion)
        _add_residual(self._map, prep.box, prep.eye_residual, eyes, eye_shifts.mean(axis=0))
        fixed, frac = cv2.convertMaps(self._map, None, cv2.CV_16SC2)
        frame = self.bundle.image.copy()
        frame[y0:y1, x0:x1] = cv2.remap(self.bundle.image, fixed, frac, cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)

        prep.eyelids.composite(frame, blink, eye_shifts)
        if mouth.any():
            head, moves, polygon = _lips(prep, mouth, motion)
            strength = float(np.clip(np.linalg.norm(moves, axis=1).mean() / _INTERIOR_ON_MOVE, 0.0, 1.0))
            upper = tuple(np.round(head).astype(int))
            lower = tuple(np.round(head + mouth @ prep.lower_lip_moves).astype(int))
            prep.interior.composite(frame, polygon, upper, lower, strength)
        return frame

    def opening(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """(N, 2) inner-lip polygon (pixels) that `render` fills with the mouth interior, for checks and tools."""
        return _lips(self._prep, mix_mouth(params), self._motion(frame_index, speech_gestures(params)))[2]

    def _motion(self, frame_index: int, gestures: np.ndarray) -> np.ndarray:
        """Global motion weights (prepared.GLOBAL_MOTIONS): the idle pose plus the speech gestures."""
        pose: Pose = self.idle.pose(frame_index)
        face = self._prep.face_height
        return np.array([pose.dx + gestures[_TURN] * TURN_SHARE * face, pose.dy + gestures[_NOD] * NOD_SHARE * face,
                         pose.roll + gestures[_TILT] * TILT_RAD, pose.breath], np.float32)


def speech_gestures(params: np.ndarray) -> np.ndarray:
    """The GESTURE_PARAMS part of a parameter vector, clamped (brows only rise); zeros when there is none."""
    values = np.asarray(params, np.float32).reshape(-1)
    if len(values) < N_FRAME_PARAMS:
        return np.zeros(N_GESTURES, np.float32)
    gestures = np.clip(np.nan_to_num(values[N_PARAMS:N_FRAME_PARAMS]), -1.0, 1.0)
    gestures[_BROW] = max(gestures[_BROW], 0.0)
    return gestures


def _lips(prep: PreparedAvatar, mouth: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head motion at the mouth, the inner lips' moves and the opening polygon they leave."""
    head = motion @ prep.mouth_global_motion
    moves = np.tensordot(mouth, prep.inner_lip_moves, axes=1)
    return head, moves, _opening(prep.inner_lips + moves + head, prep.mouth_down)


def _opening(lips: np.ndarray, down: np.ndarray) -> np.ndarray:
    """The inner-lip polygon; where pressed lips overlap, the lower lip is held at the upper one (no twist)."""
    n = len(lips) // 2
    upper, lower = lips[:n], lips[n:].copy()
    overlap = np.minimum((lower - upper) @ down, 0.0)
    lower -= overlap[:, None] * down
    return np.concatenate([upper, lower[-2:0:-1]])


def _add_residual(warp: np.ndarray, box: tuple[int, int, int, int], residual: Residual, weights: np.ndarray,
                  shift: np.ndarray) -> None:
    """Add a group's fine corrections where the head has carried them (`shift`, rounded to whole pixels)."""
    if not weights.any():
        return
    dx, dy = np.round(shift).astype(int)
    rx0, ry0, rx1, ry1 = residual.box
    field = (weights @ residual.basis).reshape(residual.shape)
    # Clip the shifted box to the warp box (the residuals fade out toward their edges, so a clipped rim is zero).
    top, left = max(ry0 + dy, box[1]), max(rx0 + dx, box[0])
    bottom, right = min(ry1 + dy, box[3]), min(rx1 + dx, box[2])
    warp[top - box[1]: bottom - box[1], left - box[0]: right - box[0]] += field[
        top - ry0 - dy: bottom - ry0 - dy, left - rx0 - dx: right - rx0 - dx]
