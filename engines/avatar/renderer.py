"""Per-frame avatar rendering: mix precomputed warp fields, one remap of the head-and-shoulders box, then lids
and the mouth interior. About 2-2.5 ms of CPU per 512x512 frame on one core (docs/benchmarks.md).

The rig's fields stay in photo coordinates while idle motion moves the head by at most about 2 pixels; the lids
and pressed lips overlap by more than that, so no gap opens, and the painted lids and mouth interior follow
the head motion measured where they are.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.bundle import AvatarBundle
from engines.avatar.idle import IdleMotion, Pose
from engines.avatar.prepared import PreparedAvatar, Residual, prepared, upsample
from engines.timebase import N_PARAMS

# Mean movement of the inner lips (pixels) at which the painted interior is fully on. It fades in from rest, so
# the rest frame is the photo itself and the first frames of speech never pop.
_INTERIOR_ON_MOVE = 3.0


def mix_mouth(params: np.ndarray) -> np.ndarray:
    """Rig weights (MOUTH_SHAPES order) from mouth parameters: closing or tucking the lips wins over an open
    jaw, rounding over spread, and an open jaw while rounding makes an O."""
    jaw, spread, rnd, close, tuck = np.clip(np.nan_to_num(np.asarray(params, np.float32)[:N_PARAMS]), 0.0, 1.0)
    jaw = jaw * (1 - close) * (1 - 0.6 * tuck)
    return np.array([jaw, spread * (1 - 0.5 * rnd), rnd, close, tuck * (1 - close), jaw * rnd], dtype=np.float32)


class AvatarRenderer:
    """Renders one session's frames. Cheap to create: the heavy precomputation is shared per bundle."""

    def __init__(self, bundle: AvatarBundle, seed: int = 0) -> None:
        self.bundle = bundle
        self.idle = IdleMotion(seed)
        self._prep: PreparedAvatar = prepared(bundle)
        self._map = np.empty_like(self._prep.identity)
        self._fine = np.empty_like(self._prep.identity)

    def render(self, frame_index: int, params: np.ndarray, motion_frame: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame; a pure function of (seed, frame_index, params, motion_frame).
        `motion_frame`: the frame whose head motion and breathing to show (default: `frame_index`)."""
        prep = self._prep
        mouth = mix_mouth(params)
        blink = self.idle.blink(frame_index)
        motion = _motion(self.idle.pose(frame_index if motion_frame is None else motion_frame))
        weights = np.concatenate([mouth, [blink], motion]).astype(np.float32)

        x0, y0, x1, y1 = prep.box
        coarse = (weights @ prep.coarse).reshape(prep.coarse_shape)
        upsample(coarse, (x1 - x0, y1 - y0), out=self._fine)
        cv2.add(self._fine, prep.identity, dst=self._map)
        _add_residual(self._map, prep.box, prep.mouth_residual, mouth)
        _add_residual(self._map, prep.box, prep.blink_residual, weights[len(mouth): len(mouth) + 1])
        fixed, frac = cv2.convertMaps(self._map, None, cv2.CV_16SC2)
        frame = self.bundle.image.copy()
        frame[y0:y1, x0:x1] = cv2.remap(self.bundle.image, fixed, frac, cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)

        prep.eyelids.composite(frame, blink, motion @ prep.eye_global_motion)
        if mouth.any():
            head, moves, polygon = _lips(prep, mouth, motion)
            strength = float(np.clip(np.linalg.norm(moves, axis=1).mean() / _INTERIOR_ON_MOVE, 0.0, 1.0))
            upper = tuple(np.round(head).astype(int))
            lower = tuple(np.round(head + mouth @ prep.lower_lip_moves).astype(int))
            prep.interior.composite(frame, polygon, upper, lower, strength)
        return frame

    def opening(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """(N, 2) inner-lip polygon (pixels) that `render` fills with the mouth interior, for checks and tools."""
        return _lips(self._prep, mix_mouth(params), _motion(self.idle.pose(frame_index)))[2]


def _motion(pose: Pose) -> np.ndarray:
    return np.array([pose.dx, pose.dy, pose.roll, pose.breath], np.float32)


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


def _add_residual(warp: np.ndarray, box: tuple[int, int, int, int], residual: Residual, weights: np.ndarray) -> None:
    if not weights.any():
        return
    rx0, ry0, rx1, ry1 = residual.box
    warp[ry0 - box[1]: ry1 - box[1], rx0 - box[0]: rx1 - box[0]] += (weights @ residual.basis).reshape(residual.shape)
