"""Where the mouth, the eyes and the head are in a prepared portrait: boxes for callers, soft masks for warps."""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar import face_topology as topo

Box = tuple[int, int, int, int]
_HEAD_SCALE = 1.22  # the head (with hair) as a scaled face oval


def mouth_width(landmarks: np.ndarray) -> float:
    a, b = topo.MOUTH_CORNERS
    return float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]))


def mouth_box(landmarks: np.ndarray, size: tuple[int, int]) -> Box:
    """The lips plus the room the lower lip and the corners travel when the mouth opens or spreads."""
    lips = landmarks[list(topo.LIP_UPPER_OUTER + topo.LIP_LOWER_OUTER), :2]
    w = mouth_width(landmarks)
    return _clip_box(lips.min(0) - (0.2 * w, 0.2 * w), lips.max(0) + (0.2 * w, 0.5 * w), size)


def eye_boxes(landmarks: np.ndarray, size: tuple[int, int]) -> list[Box]:
    boxes = []
    for eye in topo.EYES:
        pts = landmarks[list(topo.eye_polygon(eye)), :2]
        ew = float(pts[:, 0].max() - pts[:, 0].min())
        boxes.append(_clip_box(pts.min(0) - (0.15 * ew, 0.35 * ew), pts.max(0) + (0.15 * ew, 0.2 * ew), size))
    return boxes


def soft_masks(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float32 masks: head (scaled face oval), mouth (lips), eyes (openings), feathered."""
    lm = landmarks[:, :2]
    oval = lm[list(topo.FACE_OVAL)]
    centre = oval.mean(axis=0)
    face_h = float(np.linalg.norm(lm[topo.CHIN] - lm[topo.FOREHEAD_TOP]))
    mw = mouth_width(landmarks)
    lips = lm[list(topo.LIP_UPPER_OUTER + topo.LIP_LOWER_OUTER[-2:0:-1])]
    eyes = [lm[list(topo.eye_polygon(e))] for e in topo.EYES]
    head = _polygon_mask([centre + (oval - centre) * _HEAD_SCALE], size, 0.06 * face_h)
    mouth = _polygon_mask([lips], size, 0.08 * mw)
    eye = _polygon_mask(eyes, size, 0.05 * mw)
    return np.dstack([head, mouth, eye]).astype(np.float32)


def _polygon_mask(polygons: list[np.ndarray], size: tuple[int, int], feather: float) -> np.ndarray:
    w, h = size
    mask = np.zeros((h, w), np.float32)
    cv2.fillPoly(mask, [np.round(p * 4).astype(np.int32) for p in polygons], 1.0, cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(mask, (0, 0), max(feather, 0.5))


def _clip_box(lo: np.ndarray, hi: np.ndarray, size: tuple[int, int]) -> Box:
    w, h = size
    x0, y0 = np.floor(lo).astype(int)
    x1, y1 = np.ceil(hi).astype(int)
    return int(max(x0, 0)), int(max(y0, 0)), int(min(x1, w)), int(min(y1, h))
