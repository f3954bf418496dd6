"""Eye movements: dense warp fields that slide the iris inside each eye opening while the lids stay put.

The face mesh has no points inside the eye opening (the irises are not part of it), so these fields are drawn
directly: inside the opening every pixel moves by the gaze shift, fading to nothing over the last pixel before the
lids and toward the corners, where the white of the eye is squeezed or stretched as a real eyeball's would be.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar.rig import EyeFrame, smoothstep

GAZE_X = "gaze_x"
GAZE_Y = "gaze_y"
GAZE_SHIFTS = (GAZE_X, GAZE_Y)
GAZE_ACROSS = 0.07  # eye widths the iris moves sideways at gaze 1
GAZE_UP_DOWN = 0.035  # and up or down (the lids cover most of the iris's height already)
_CORNER = 0.28  # eye widths from each corner over which the shift fades out


def gaze_fields(points: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray]:
    """Backward fields (h, w, 2) over `box` for GAZE_X (toward the image's right) and GAZE_Y (down) at 1."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    fields = [np.zeros((y1 - y0, x1 - x0, 2), np.float32) for _ in GAZE_SHIFTS]
    for eye in topo.EYES:
        frame = EyeFrame(points, eye[0])
        opening = np.zeros((y1 - y0, x1 - x0), np.float32)
        polygon = (points[list(topo.eye_polygon(eye))] - (x0, y0)) * 16
        cv2.fillPoly(opening, [np.round(polygon).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        opening = cv2.GaussianBlur(opening, (0, 0), 0.7)
        s = ((xs - points[eye[0][0], 0]) * frame.u[0] + (ys - points[eye[0][0], 1]) * frame.u[1]) / frame.width
        weight = opening * smoothstep(0.0, _CORNER, s) * smoothstep(1.0, 1.0 - _CORNER, s)
        # Backward: the output pixel shows what lay a shift behind it.
        fields[0] -= weight[..., None] * (GAZE_ACROSS * frame.width) * np.array([1.0, 0.0], np.float32)
        fields[1] -= weight[..., None] * (GAZE_UP_DOWN * frame.width) * np.array([0.0, 1.0], np.float32)
    return fields
