"""Test photos: the committed avatars' portraits (real one-face photos), encoded as an upload would send them."""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.bundle import AVATARS_DIR


def portrait(name: str = "astronaut") -> np.ndarray:
    """A committed avatar's portrait (BGR)."""
    return cv2.imread(str(AVATARS_DIR / name / "photo.jpg"))


def encoded(bgr: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, data = cv2.imencode(ext, bgr)
    assert ok
    return data.tobytes()
