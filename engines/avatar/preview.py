"""A one-image preview of a bundle for people: the mesh on the photo, then rest, an open mouth and a blink."""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.bundle import AvatarBundle
from engines.avatar.renderer import AvatarRenderer
from engines.timebase import MOUTH_PARAMS, N_PARAMS

PREVIEW_SIDE = 256


def mouth_params(**values: float) -> np.ndarray:
    """A parameter vector from names, e.g. mouth_params(jaw_open=0.8)."""
    p = np.zeros(N_PARAMS, np.float32)
    for name, value in values.items():
        p[MOUTH_PARAMS.index(name)] = value
    return p


def mesh_overlay(bundle: AvatarBundle) -> np.ndarray:
    out = bundle.image.copy()
    pts = np.round(bundle.mesh_points * 16).astype(np.int32)
    for tri in bundle.triangles:
        cv2.polylines(out, [pts[tri]], True, (80, 255, 120), 1, cv2.LINE_AA, shift=4)
    for x0, y0, x1, y1 in [bundle.mouth_box, *bundle.eye_boxes]:
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 80, 80), 1)
    return out


def preview_strip(bundle: AvatarBundle) -> np.ndarray:
    renderer = AvatarRenderer(bundle, seed=0)
    blink_frame = next(i for i in range(10_000) if renderer.idle.blink(i) >= 1.0)
    tiles = [
        mesh_overlay(bundle),
        renderer.render(0, mouth_params()),
        renderer.render(0, mouth_params(jaw_open=0.8)),
        renderer.render(blink_frame, mouth_params()),
    ]
    return np.hstack([cv2.resize(t, (PREVIEW_SIDE, PREVIEW_SIDE), interpolation=cv2.INTER_AREA) for t in tiles])
