"""Dense backward warp fields from mesh point moves: the exact inverse of a piecewise-affine mesh deformation.

For every output pixel, which rest-photo pixel shows there once the mesh points have moved. Built once per rig
parameter at full strength; per frame the renderer only scales and sums these fields.
"""
from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]
_SUBPIXEL_BITS = 4


def backward_field(points: np.ndarray, triangles: np.ndarray, moves: np.ndarray, box: Box) -> np.ndarray:
    """(h, w, 2) float32 offsets (source minus output) over `box` for the mesh deformed by `moves`."""
    x0, y0, x1, y1 = box
    moved = points + moves
    src_tri = points[triangles].astype(np.float64)  # (T, 3, 2)
    dst_tri = moved[triangles].astype(np.float64)
    area = _signed_area(dst_tri)
    usable = np.abs(area) > 1e-3
    # Affine map per triangle from its moved corners back to its rest corners: src = M @ [x, y, 1].
    dst_h = np.concatenate([dst_tri, np.ones((len(triangles), 3, 1))], axis=2)  # (T, 3, 3)
    dst_h[~usable] = np.eye(3)
    affine = np.einsum("tkc,trk->tcr", src_tri, np.linalg.inv(dst_h))  # (T, 2, 3)

    # Where moved triangles overlap (lips pressed together, lids meeting), the one that moved down most is drawn
    # last and so lies on top, as an upper lip or lid does.
    index = np.zeros((y1 - y0, x1 - x0), np.int32)
    order = np.flatnonzero(usable)
    order = order[np.argsort(moves[triangles[order], 1].mean(axis=1), kind="stable")]
    scale = 1 << _SUBPIXEL_BITS
    offset = np.array([x0, y0], np.float64)
    for t in order:
        poly = np.round((dst_tri[t] - offset) * scale).astype(np.int32)
        cv2.fillConvexPoly(index, poly, int(t) + 1, cv2.LINE_8, _SUBPIXEL_BITS)

    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    m = affine[np.maximum(index - 1, 0)]  # (h, w, 2, 3)
    src_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    src_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    field = np.dstack([src_x - xs, src_y - ys])
    field[index == 0] = 0.0
    return field.astype(np.float32)


def _signed_area(tri: np.ndarray) -> np.ndarray:
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def support_box(points: np.ndarray, triangles: np.ndarray, moves: np.ndarray, size: tuple[int, int],
                margin: int = 2) -> Box:
    """The smallest box holding every triangle that moves, at rest and moved."""
    moving = np.abs(moves[triangles]).max(axis=(1, 2)) > 1e-4
    if not moving.any():
        return 0, 0, 0, 0
    tris = triangles[moving]
    corners = np.concatenate([points[tris].reshape(-1, 2), (points + moves)[tris].reshape(-1, 2)])
    w, h = size
    lo = np.floor(corners.min(axis=0)).astype(int) - margin
    hi = np.ceil(corners.max(axis=0)).astype(int) + margin
    return max(lo[0], 0), max(lo[1], 0), min(hi[0], w), min(hi[1], h)
