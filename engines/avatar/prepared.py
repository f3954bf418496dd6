"""Everything a renderer precomputes from a bundle, built once per bundle and shared by every session.

Per rig parameter: a dense backward warp field over the box it affects. For idle motion: smooth full-frame
planes for head translation, roll and breathing. For the mouth: the interior layers and where the inner lips go.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar.bundle import AvatarBundle
from engines.avatar.mesh import separated_contours
from engines.avatar.mouth_interior import MouthInterior
from engines.avatar.rig import BLINK, MouthFrame, all_rules, smoothstep
from engines.avatar.warp_field import Box, backward_field, support_box
from engines.face.base import MOUTH_PARAMS

log = logging.getLogger(__name__)

HEAD_SHIFT_MARGIN = 4  # pixels a field box may be moved by head motion
BREATH_PX = 0.9
_LOWER_LIP_MID = 14


@dataclass(frozen=True)
class FieldGroup:
    """Warp fields of parameters that act on the same region, as rows of one matrix so a frame is one gemv."""

    names: tuple[str, ...]
    box: Box
    basis: np.ndarray  # (len(names), h * w * 2) float32
    centre: np.ndarray  # (2,) where head motion is sampled to move this group along with the head

    @property
    def shape(self) -> tuple[int, int, int]:
        x0, y0, x1, y1 = self.box
        return y1 - y0, x1 - x0, 2


class PreparedAvatar:
    def __init__(self, bundle: AvatarBundle) -> None:
        started = time.perf_counter()
        w, h = bundle.size
        points = bundle.mesh_points.copy()
        points[: topo.N_FACE_LANDMARKS] = separated_contours(bundle.landmarks[: topo.N_FACE_LANDMARKS, :2])
        rules = all_rules(points, bundle.landmarks)
        self.size = (w, h)
        self.groups = (
            _group(points, bundle, rules, MOUTH_PARAMS),
            _group(points, bundle, rules, (BLINK,)),
        )
        self.identity = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        self.head_box, self.head_planes = _head_planes(bundle.masks[..., 0], bundle.landmarks)
        self.breath_plane = _breath_plane(bundle.landmarks, (w, h))
        self.head_mask = bundle.masks[..., 0]
        self.head_centre = bundle.landmarks[list(topo.FACE_OVAL), :2].mean(axis=0)

        polygon = list(topo.inner_mouth_polygon())
        self.mouth_polygon = points[polygon].astype(np.float32)
        self.mouth_moves = np.stack([rules[n][polygon] for n in MOUTH_PARAMS]).astype(np.float32)  # (K, N, 2)
        self.lower_lip_moves = np.stack([rules[n][_LOWER_LIP_MID] for n in MOUTH_PARAMS]).astype(np.float32)
        frame = MouthFrame(points, bundle.landmarks)
        self.mouth_width = frame.width
        self.rest_mouth_area = _area(self.mouth_polygon)
        x0, y0, x1, y1 = bundle.mouth_box
        m = HEAD_SHIFT_MARGIN
        self.interior = MouthInterior(
            bundle.image, (max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h)), frame.centre, frame.u,
            frame.width, upper_lip_b=float(frame.b[13]), lower_lip_b=float(frame.b[14]),
        )
        log.info("prepared avatar %s in %.0f ms", bundle.name, (time.perf_counter() - started) * 1e3)

    def head_motion_at(self, p: np.ndarray, dx: float, dy: float, roll: float, breath: float) -> np.ndarray:
        """Forward pixel motion of the content at p under head motion and breathing."""
        x, y = int(np.clip(p[0], 0, self.size[0] - 1)), int(np.clip(p[1], 0, self.size[1] - 1))
        m = self.head_mask[y, x]
        rel = p - self.head_centre
        return np.array([m * (dx - roll * rel[1]), m * (dy + roll * rel[0]) + breath * self.breath_plane[y, x, 1]],
                        np.float32)


@functools.lru_cache(maxsize=16)
def prepared(bundle: AvatarBundle) -> PreparedAvatar:
    return PreparedAvatar(bundle)


def _group(points: np.ndarray, bundle: AvatarBundle, rules: dict[str, np.ndarray], names: tuple[str, ...]) -> FieldGroup:
    boxes = np.array([support_box(points, bundle.triangles, rules[n], bundle.size) for n in names])
    w, h = bundle.size
    m = HEAD_SHIFT_MARGIN
    box = (max(int(boxes[:, 0].min()) - m, m), max(int(boxes[:, 1].min()) - m, m),
           min(int(boxes[:, 2].max()) + m, w - m), min(int(boxes[:, 3].max()) + m, h - m))
    basis = np.stack([backward_field(points, bundle.triangles, rules[n], box).reshape(-1) for n in names])
    x0, y0, x1, y1 = box
    return FieldGroup(names, box, np.ascontiguousarray(basis), np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32))


def _head_planes(head_mask: np.ndarray, landmarks: np.ndarray) -> tuple[Box, np.ndarray]:
    """Backward fields for head dx, dy and roll, restricted to the box where the head mask is not zero."""
    ys, xs = np.nonzero(head_mask > 1e-3)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    x0, y0, x1, y1 = box
    mask = head_mask[y0:y1, x0:x1]
    centre = landmarks[list(topo.FACE_OVAL), :2].mean(axis=0)
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    zero = np.zeros_like(mask)
    planes = np.stack([
        np.dstack([-mask, zero]),
        np.dstack([zero, -mask]),
        np.dstack([mask * (gy - centre[1]), -mask * (gx - centre[0])]),
    ]).astype(np.float32)
    return box, planes


def _breath_plane(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Forward motion of a full breath in: shoulders rise most, the head a little, the frame edges not at all."""
    w, h = size
    chin = float(landmarks[topo.CHIN, 1])
    y = np.arange(h, dtype=np.float32)
    rise = (0.6 + 0.4 * smoothstep(chin, chin + 0.2 * h, y)) * smoothstep(0, 0.2 * h, y) * (1 - smoothstep(0.85 * h, h, y))
    plane = np.zeros((h, w, 2), np.float32)
    plane[..., 1] = -BREATH_PX * rise[:, None]
    return plane


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
