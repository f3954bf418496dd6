"""The CPU drawing of avatar frames: mix the precomputed warp fields that a frame's plan weights (frame_plan.py),
one remap of the head-and-shoulders box, then lids and the mouth interior. About 2-2.5 ms of CPU per 512x512
frame on one core (docs/benchmarks.md).
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.bundle import AvatarBundle
from engines.avatar.frame_plan import FramePlan, FramePlanner
from engines.avatar.idle import IdleMotion
from engines.avatar.prepared import PreparedAvatar, Residual, upsample


class AvatarRenderer:
    """Renders one session's frames. Cheap to create: the heavy precomputation is shared per bundle."""

    def __init__(self, bundle: AvatarBundle, seed: int = 0) -> None:
        self.bundle = bundle
        self.planner = FramePlanner(bundle, seed)
        self._prep: PreparedAvatar = self.planner.prep
        self._map = np.empty_like(self._prep.identity)
        self._fine = np.empty_like(self._prep.identity)

    @property
    def idle(self) -> IdleMotion:
        return self.planner.idle

    def render(self, frame_index: int, params: np.ndarray, motion_frame: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame; a pure function of (seed, frame_index, params, motion_frame). `params` holds
        MOUTH_PARAMS, optionally followed by GESTURE_PARAMS; `motion_frame` as FramePlanner.plan takes it."""
        return self.draw(self.planner.plan(frame_index, params, motion_frame))

    def draw(self, plan: FramePlan) -> np.ndarray:
        prep = self._prep
        x0, y0, x1, y1 = prep.box
        n_rig = len(plan.rig)
        coarse = (plan.motion @ prep.coarse[n_rig:]).reshape(prep.coarse_shape)
        if plan.head_follow is not None:
            moving = (plan.rig @ prep.coarse[:n_rig]).reshape(prep.coarse_shape)
            coarse += cv2.warpAffine(moving, plan.head_follow, coarse.shape[1::-1], flags=cv2.INTER_LINEAR)
        upsample(coarse, (x1 - x0, y1 - y0), out=self._fine)
        cv2.add(self._fine, prep.identity, dst=self._map)
        _add_residual(self._map, prep.box, prep.mouth_residual, plan.mouth_weights, plan.mouth_shift)
        _add_residual(self._map, prep.box, prep.eye_residual, plan.eye_weights, plan.eye_shift)
        fixed, frac = cv2.convertMaps(self._map, None, cv2.CV_16SC2)
        frame = self.bundle.image.copy()
        frame[y0:y1, x0:x1] = cv2.remap(self.bundle.image, fixed, frac, cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)
        prep.eyelids.composite(frame, plan.lids)
        if plan.mouth is not None:
            prep.interior.composite(frame, plan.mouth)
        return frame

    def opening(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """(N, 2) inner-lip polygon (pixels) that `render` fills with the mouth interior, for checks and tools."""
        return self.planner.opening(frame_index, params)


def _add_residual(warp: np.ndarray, box: tuple[int, int, int, int], residual: Residual, weights: np.ndarray,
                  shift: tuple[int, int]) -> None:
    """Add a group's fine corrections where the head has carried them (`shift`, whole pixels)."""
    if not weights.any():
        return
    dx, dy = shift
    rx0, ry0, rx1, ry1 = residual.box
    field = (weights @ residual.basis).reshape(residual.shape)
    # Clip the shifted box to the warp box (the residuals fade out toward their edges, so a clipped rim is zero).
    top, left = max(ry0 + dy, box[1]), max(rx0 + dx, box[0])
    bottom, right = min(ry1 + dy, box[3]), min(rx1 + dx, box[2])
    warp[top - box[1]: bottom - box[1], left - box[0]: right - box[0]] += field[
        top - ry0 - dy: bottom - ry0 - dy, left - rx0 - dx: right - rx0 - dx]
