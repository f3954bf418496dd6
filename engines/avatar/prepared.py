"""Everything a renderer precomputes from a bundle, built once per bundle and shared by every session.

Every motion (each mouth parameter, the blink, the brow raise, the gaze, head shift and roll, breathing) becomes a
dense backward warp field over one box around the head and shoulders. Fields are stored as a coarse part (1/4 resolution; per frame
all coarse parts are mixed by one small matrix product and upsampled once) plus a fine residual kept only in the
mouth and eye boxes, where fields are sharp (the lip line, the lids). Upsampling is linear, so coarse mix plus
residual reproduces the full-resolution mix exactly inside those boxes; the residual is faded out toward their
edges, so elsewhere the field is the coarse one (off by under a pixel where the jaw stretches the neck) and
there is never a step.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar.bundle import AvatarBundle
from engines.avatar.eyelids import Eyelids
from engines.avatar.gaze import GAZE_SHIFTS, gaze_fields
from engines.avatar.mesh import separated_contours
from engines.avatar.mouth_interior import MouthInterior
from engines.avatar.rig import (
    BLINK,
    BROW,
    MOUTH_SHAPES,
    MouthFrame,
    all_rules,
    smoothstep,
)
from engines.avatar.warp_field import Box, backward_field, support_box

log = logging.getLogger(__name__)

COARSE = 4  # coarse field resolution divisor
FIELD_FEATHER_PX = 0.7  # sigma that softens steps in the rig fields...
FIELD_JUMP_PX = 4.0  # ...up to this size
RESIDUAL_FADE = 6  # pixels over which a residual fades out at its box edges
BREATH_PX = 1.0  # shoulders rise this much on a full breath in; the head about half as much
HEAD_TRAVEL = 10  # most pixels head motion (idle and speech gestures) moves the mouth; layers carry that margin
EYE_MOTIONS = (BLINK, BROW, *GAZE_SHIFTS)  # rig motions around the eyes, after the mouth shapes
RIG_MOTIONS = (*MOUTH_SHAPES, *EYE_MOTIONS)  # the rows of `coarse` that move with the head
GLOBAL_MOTIONS = ("head_dx", "head_dy", "head_roll", "breath")  # the rows after them, in pixels and radians


@dataclass(frozen=True)
class Residual:
    """Fine corrections of one group of fields (rows of `basis`) over `box`, in frame pixels."""

    box: Box
    basis: np.ndarray  # (K, h * w * 2) float32

    @property
    def shape(self) -> tuple[int, int, int]:
        x0, y0, x1, y1 = self.box
        return y1 - y0, x1 - x0, 2


class PreparedAvatar:
    """Warp fields, mouth interior and lids of one bundle; read-only once built, so sessions share it."""

    def __init__(self, bundle: AvatarBundle) -> None:
        started = time.perf_counter()
        self.size = bundle.size
        points = bundle.mesh_points.copy()
        points[: topo.N_FACE_LANDMARKS] = separated_contours(bundle.landmarks[: topo.N_FACE_LANDMARKS, :2])
        rules = all_rules(points, bundle.landmarks)
        head_mask = bundle.masks[..., 0]
        supports = [support_box(points, bundle.triangles, rules[n], self.size) for n in (*MOUTH_SHAPES, BLINK, BROW)]
        self.box = _aligned_box(_union([_mask_box(head_mask), *supports], self.size), self.size)
        x0, y0, x1, y1 = self.box
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.identity = np.dstack([gx, gy])

        rig_fields = [_antialiased(backward_field(points, bundle.triangles, rules[n], self.box)) for n in MOUTH_SHAPES]
        rig_fields.append(backward_field(points, bundle.triangles, rules[BLINK], self.box))  # painted lids cover it
        rig_fields.append(backward_field(points, bundle.triangles, rules[BROW], self.box))
        rig_fields += gaze_fields(points, self.box)
        global_fields = _global_fields(head_mask[y0:y1, x0:x1], gx, gy, bundle.landmarks, self.size)
        coarse, residuals = zip(*(_split(f) for f in rig_fields + global_fields))
        self.coarse_shape = coarse[0].shape
        self.coarse = np.ascontiguousarray(np.stack([c.reshape(-1) for c in coarse]))
        k, e = len(MOUTH_SHAPES), len(RIG_MOTIONS)
        self.mouth_residual = _residual(residuals[:k], self.box, bundle.mouth_box)
        self.eye_residual = _residual(residuals[k:e], self.box, _union_box(bundle.eye_boxes))
        self.face_height = float(np.linalg.norm(bundle.landmarks[topo.CHIN, :2] - bundle.landmarks[topo.FOREHEAD_TOP, :2]))

        frame = MouthFrame(points, bundle.landmarks)
        self.mouth_width = frame.width
        self.mouth_global_motion = self._global_motion_at(frame.centre)
        eye_centres = [points[list(upper)].mean(axis=0) for upper, _ in topo.EYES]
        self.eye_global_motion = np.stack([self._global_motion_at(c) for c in eye_centres])  # (eyes, G, 2)
        # Three points inside the face whose forward motion gives the head's rigid motion as an affine map.
        centre = bundle.landmarks[list(topo.FACE_OVAL), :2].mean(axis=0)
        step = 0.2 * self.face_height
        self._head_points = np.array([centre, centre + (step, 0), centre + (0, step)], np.float32)
        self._head_motion = np.stack([self._global_motion_at(p) for p in self._head_points])  # (3, G, 2)
        self.eyelids = Eyelids(bundle.image, points, rules[BLINK])

        lips = list(topo.LIP_UPPER_INNER + topo.LIP_LOWER_INNER)
        self.inner_lips = points[lips].astype(np.float32)  # upper contour, then lower, corner to corner
        self.inner_lip_moves = np.stack([rules[n][lips] for n in MOUTH_SHAPES]).astype(np.float32)  # (K, 22, 2)
        self.mouth_down = frame.v.astype(np.float32)
        self.lower_lip_moves = np.stack([rules[n][topo.LIP_LOWER_MID] for n in MOUTH_SHAPES]).astype(np.float32)
        travel = HEAD_TRAVEL + int(np.ceil(np.abs(self.lower_lip_moves).sum(axis=0).max()))
        self.interior = MouthInterior(
            bundle.image, _clip(_grow(bundle.mouth_box, HEAD_TRAVEL), self.size), frame.centre, frame.u, frame.width,
            rest_polygon=points[list(topo.inner_mouth_polygon())], upper_lip=points[list(topo.LIP_UPPER_INNER)],
            lower_lip=points[list(topo.LIP_LOWER_INNER)], travel=travel,
        )
        log.info("prepared avatar %s in %.0f ms", bundle.name, (time.perf_counter() - started) * 1e3)

    def _global_motion_at(self, p: np.ndarray) -> np.ndarray:
        """(G, 2): forward motion at p per unit of each global motion (the coarse backward field, negated)."""
        cell = np.round((p - self.box[:2]) / COARSE).astype(int)
        cy, cx = np.clip(cell[::-1], 0, np.array(self.coarse_shape[:2]) - 1)
        k = len(RIG_MOTIONS)
        return -self.coarse[k:].reshape(len(GLOBAL_MOTIONS), *self.coarse_shape)[:, cy, cx]

    def head_follow(self, motion: np.ndarray) -> np.ndarray:
        """(2, 3) affine map, in coarse field cells, of the head's forward motion: the rig's fields are drawn on
        the photo's face, so they are carried along with the head before they are mixed with its motion."""
        def cells(p: np.ndarray) -> np.ndarray:
            return ((p - self.box[:2] + 0.5) / COARSE - 0.5).astype(np.float32)

        moved = self._head_points + np.einsum("g,pgk->pk", motion, self._head_motion)
        return cv2.getAffineTransform(cells(self._head_points), cells(moved))


@functools.lru_cache(maxsize=16)
def prepared(bundle: AvatarBundle) -> PreparedAvatar:
    return PreparedAvatar(bundle)


def _global_fields(mask: np.ndarray, gx: np.ndarray, gy: np.ndarray, landmarks: np.ndarray,
                   size: tuple[int, int]) -> list[np.ndarray]:
    """Backward fields for head dx, dy, roll (the head mask moves rigidly) and a breath in."""
    centre = landmarks[list(topo.FACE_OVAL), :2].mean(axis=0)
    zero = np.zeros_like(mask)
    rel_x, rel_y = gx - centre[0], gy - centre[1]
    w, h = size
    chin = float(landmarks[topo.CHIN, 1])
    rise = (0.5 + 0.5 * smoothstep(chin, chin + 0.15 * h, gy)) * (1 - smoothstep(0.8 * h, h - 1, gy))
    left, right = float(gx[0, 0]), float(gx[0, -1])
    rise *= smoothstep(left, left + 0.08 * w, gx) * smoothstep(right, right - 0.08 * w, gx)
    rise *= np.maximum(mask, smoothstep(chin, chin + 0.1 * h, gy))
    return [
        np.dstack([-mask, zero]),
        np.dstack([zero, -mask]),
        np.dstack([mask * rel_y, -mask * rel_x]),
        np.dstack([zero, BREATH_PX * rise]),
    ]


def _antialiased(field: np.ndarray) -> np.ndarray:
    """A rig field with its small steps softened over about a pixel. Where moved triangles overlap (pressed lips)
    the field jumps along rasterised triangle edges, which shows as a staircase in the
    photo; a slight blur turns the step into a short ramp and leaves the piecewise-affine field elsewhere as it
    was. Big jumps stay sharp: a ramp across them would sample whatever lay between (teeth between parted lips)."""
    kernel = np.ones((3, 3), np.uint8)
    jump = (cv2.dilate(field, kernel) - cv2.erode(field, kernel)).max(axis=2)
    soft = (1 - smoothstep(FIELD_JUMP_PX / 2, FIELD_JUMP_PX, cv2.dilate(jump, kernel)))[..., None]
    return field + (cv2.GaussianBlur(field, (0, 0), FIELD_FEATHER_PX) - field) * soft


def _split(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = field.shape[:2]
    coarse = cv2.resize(field, (w // COARSE, h // COARSE), interpolation=cv2.INTER_AREA)
    return coarse, field - upsample(coarse, (w, h))


def upsample(coarse: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    return cv2.resize(coarse, size, dst=out, interpolation=cv2.INTER_LINEAR)


def _residual(fields: tuple[np.ndarray, ...], box: Box, keep: Box) -> Residual:
    """The fine corrections of a group of fields inside `keep` (frame pixels), faded out toward its edges."""
    kx0, ky0, kx1, ky1 = _grow(keep, RESIDUAL_FADE)
    kx0, ky0 = max(kx0, box[0]), max(ky0, box[1])
    kx1, ky1 = min(kx1, box[2]), min(ky1, box[3])
    ys = np.arange(ky0, ky1, dtype=np.float32)
    xs = np.arange(kx0, kx1, dtype=np.float32)
    fade = (smoothstep(ky0, ky0 + RESIDUAL_FADE, ys) * smoothstep(ky1 - 1, ky1 - 1 - RESIDUAL_FADE, ys))[:, None] * (
        smoothstep(kx0, kx0 + RESIDUAL_FADE, xs) * smoothstep(kx1 - 1, kx1 - 1 - RESIDUAL_FADE, xs))[None, :]
    rows, cols = slice(ky0 - box[1], ky1 - box[1]), slice(kx0 - box[0], kx1 - box[0])
    basis = np.stack([(f[rows, cols] * fade[..., None]).reshape(-1) for f in fields]).astype(np.float32)
    return Residual((kx0, ky0, kx1, ky1), np.ascontiguousarray(basis))


def _union_box(boxes: list[Box]) -> Box:
    b = np.array(boxes)
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def _mask_box(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask > 1e-3)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _union(boxes: list[Box], size: tuple[int, int]) -> Box:
    """Boxes joined, reaching down to the frame bottom so that breathing lifts the shoulders too."""
    x0, y0, x1, _ = _union_box([bx for bx in boxes if bx[2] > bx[0]])
    return x0, y0, x1, size[1]


def _aligned_box(box: Box, size: tuple[int, int]) -> Box:
    """Grow a box to whole coarse cells, staying inside the frame."""
    x0, y0, x1, y1 = box
    w, h = size
    out = []
    for lo, hi, limit in ((x0, x1, w), (y0, y1, h)):
        limit -= limit % COARSE
        length = min(-(-(hi - lo) // COARSE) * COARSE, limit)
        lo = min(lo - lo % COARSE, limit - length)
        out.append((lo, lo + length))
    (x0, x1), (y0, y1) = out
    return x0, y0, x1, y1


def _grow(box: Box, by: int) -> Box:
    x0, y0, x1, y1 = box
    return x0 - by, y0 - by, x1 + by, y1 + by


def _clip(box: Box, size: tuple[int, int]) -> Box:
    x0, y0, x1, y1 = box
    return max(x0, 0), max(y0, 0), min(x1, size[0]), min(y1, size[1])
