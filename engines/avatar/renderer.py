"""Per-frame avatar rendering: mix precomputed warp fields, one remap of the photo, then the mouth interior."""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.bundle import AvatarBundle
from engines.avatar.idle import IdleMotion
from engines.avatar.prepared import PreparedAvatar, prepared
from engines.face.base import N_PARAMS

# Extra inner-lip opening (mean gap, in mouth widths) over which the painted interior fades in: a photo taken
# with parted lips shows its own teeth at rest, and those must not be painted over until the mouth really opens.
_INTERIOR_FADE = 0.035


def mix_mouth(params: np.ndarray) -> np.ndarray:
    """Rig weights from mouth parameters: closing or tucking the lips wins over an open jaw, rounding over spread."""
    jaw, spread, rnd, close, tuck = np.clip(np.nan_to_num(params[:N_PARAMS]), 0.0, 1.0)
    return np.array(
        [jaw * (1 - close) * (1 - 0.6 * tuck), spread * (1 - 0.5 * rnd), rnd, close, tuck * (1 - close)],
        dtype=np.float32,
    )


class AvatarRenderer:
    """Renders one session's frames. Cheap to create: the heavy precomputation is shared per bundle."""

    def __init__(self, bundle: AvatarBundle, seed: int = 0) -> None:
        self.bundle = bundle
        self._prep: PreparedAvatar = prepared(bundle)
        self._idle = IdleMotion(seed)
        w, h = bundle.size
        self._map = np.empty((h, w, 2), np.float32)

    def render(self, frame_index: int, params: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame; a pure function of (seed, frame_index, params)."""
        prep = self._prep
        weights = mix_mouth(np.asarray(params, dtype=np.float32))
        blink = self._idle.blink(frame_index)
        pose = self._idle.pose(frame_index)
        motion = (pose.dx, pose.dy, pose.roll, pose.breath)

        warp = self._map
        cv2.scaleAdd(prep.breath_plane, -pose.breath, prep.identity, warp)
        x0, y0, x1, y1 = prep.head_box
        head = warp[y0:y1, x0:x1]
        for amount, plane in zip((pose.dx, pose.dy, pose.roll), prep.head_planes):
            head += amount * plane
        mouth_shift = prep.head_motion_at(prep.groups[0].centre, *motion)
        for group, w in zip(prep.groups, (weights, np.array([blink], np.float32))):
            if not w.any():
                continue
            kx, ky = np.round(prep.head_motion_at(group.centre, *motion)).astype(int)
            gx0, gy0, gx1, gy1 = group.box
            warp[gy0 + ky: gy1 + ky, gx0 + kx: gx1 + kx] += (w @ group.basis).reshape(group.shape)
        fixed, frac = cv2.convertMaps(warp, None, cv2.CV_16SC2)
        frame = cv2.remap(self.bundle.image, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        if weights.any():
            polygon = prep.mouth_polygon + np.tensordot(weights, prep.mouth_moves, axes=1) + mouth_shift
            lower_shift = mouth_shift + weights @ prep.lower_lip_moves
            opening = (_area(polygon) - prep.rest_mouth_area) / prep.mouth_width**2
            strength = float(np.clip(opening / _INTERIOR_FADE, 0.0, 1.0))
            prep.interior.composite(frame, polygon, mouth_shift, lower_shift, strength)
        return frame


def _area(polygon: np.ndarray) -> float:
    return float(cv2.contourArea(polygon.astype(np.float32)))
