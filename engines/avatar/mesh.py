"""The avatar's triangle mesh: face landmarks plus fixed anchors, so that warps fade out before the frame edge.

The lip and lid contours are pulled a hair apart before triangulating: a closed mouth puts upper and lower lip
landmarks on the same pixel, and Delaunay would merge them, leaving no way to open the mouth there.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar import face_topology as topo

_ANCHOR_RINGS = (1.3, 1.75)  # face-oval scale factors around the face centre
_BORDER_STEP = 64
_MIN_SEPARATION = 0.6  # pixels between an upper and a lower contour point after pulling apart


def build_mesh(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Points (face landmarks first, then anchors) and Delaunay triangles covering the whole frame."""
    face = separated_contours(landmarks[: topo.N_FACE_LANDMARKS, :2])
    points = np.concatenate([face, _anchors(face, size)]).astype(np.float32)
    return points, _delaunay(points, size)


def separated_contours(face: np.ndarray) -> np.ndarray:
    """Upper lip/lid points nudged up and lower ones down where a pair is closer than _MIN_SEPARATION."""
    out = face.copy()
    pairs = [(topo.LIP_UPPER_INNER, topo.LIP_LOWER_INNER), *topo.EYES]
    for upper, lower in pairs:
        for u, d in zip(upper[1:-1], lower[1:-1]):
            gap = out[d, 1] - out[u, 1]
            if gap < _MIN_SEPARATION:
                shift = (_MIN_SEPARATION - gap) / 2
                out[u, 1] -= shift
                out[d, 1] += shift
    return out


def _anchors(face: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    oval = face[list(topo.FACE_OVAL)]
    centre = oval.mean(axis=0)
    rings = [centre + (oval - centre) * s for s in _ANCHOR_RINGS]
    xs = np.arange(0, w + 1, _BORDER_STEP, dtype=np.float32).clip(0, w - 1)
    ys = np.arange(0, h + 1, _BORDER_STEP, dtype=np.float32).clip(0, h - 1)
    border = np.concatenate([
        np.stack([xs, np.zeros_like(xs)], 1), np.stack([xs, np.full_like(xs, h - 1)], 1),
        np.stack([np.zeros_like(ys), ys], 1), np.stack([np.full_like(ys, w - 1), ys], 1),
    ])
    candidates = np.concatenate([*rings, border])
    candidates[:, 0] = candidates[:, 0].clip(0, w - 1)
    candidates[:, 1] = candidates[:, 1].clip(0, h - 1)
    kept: list[np.ndarray] = []
    taken = face
    for p in candidates:
        if np.min(np.linalg.norm(taken - p, axis=1)) > 4.0:
            kept.append(p)
            taken = np.vstack([taken, p])
    return np.array(kept, dtype=np.float32)


def _delaunay(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    vertex_of: dict[int, int] = {}
    for i, p in enumerate(points):
        vid = subdiv.insert((float(p[0]), float(p[1])))
        if vid in vertex_of:
            raise ValueError(f"mesh points {vertex_of[vid]} and {i} coincide")
        vertex_of[vid] = i
    triangles = []
    for x0, y0, x1, y1, x2, y2 in subdiv.getTriangleList():
        corners = [(x0, y0), (x1, y1), (x2, y2)]
        if any(not (0 <= x < w and 0 <= y < h) for x, y in corners):
            continue
        triangles.append([vertex_of[subdiv.findNearest(c)[0]] for c in corners])
    return np.array(triangles, dtype=np.int32)
