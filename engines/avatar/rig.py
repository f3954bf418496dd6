"""The rig: how far each mesh point moves when one mouth parameter (or the blink) is fully on.

Rules are written in a mouth-aligned frame (a across the mouth, b down toward the chin, both in half mouth widths)
and an eye-aligned frame per eye, so a tilted head opens its jaw along its own axis. The renderer turns each
rule into a dense warp field once and mixes the fields per frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar.regions import mouth_width
from engines.timebase import MOUTH_PARAMS

BLINK = "blink"
BROW = "brow_raise"
# The rig's mouth shapes: the five mouth parameters plus one interaction, an open jaw while rounding, which
# narrows the opening toward the corners into an O (a linear mix of the two alone gives a slot).
JAW_ROUND = "jaw_round"
MOUTH_SHAPES = (*MOUTH_PARAMS, JAW_ROUND)
_EYE_CLOSE_AT = 0.72  # where the lids meet, as a share of the opening measured from the upper lid
LID_OVERLAP = 0.8  # pixels the closed upper lid reaches past the lower one
LID_FALLOFF = 0.28  # eye widths above the margin over which the upper lid's skin follows it (Gaussian)
BROW_LIFT = 0.09  # eye widths the brows rise when raised fully (more bends glasses that rest on them)
_BROW_FREE = 0.2  # eye widths above the lid margin that stay put when the brows rise (the lid and its fold)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class MouthFrame:
    """Mouth-aligned coordinates of every mesh point, and helpers to turn local moves into pixel moves."""

    def __init__(self, points: np.ndarray, landmarks: np.ndarray) -> None:
        lm = landmarks[:, :2]
        left, right = lm[topo.MOUTH_CORNERS[0]], lm[topo.MOUTH_CORNERS[1]]
        self.width = mouth_width(landmarks)
        self.u = (right - left) / self.width
        self.v = np.array([-self.u[1], self.u[0]])
        self.centre = (points[topo.LIP_UPPER_MID] + points[topo.LIP_LOWER_MID]) / 2
        half = self.width / 2
        rel = points - self.centre
        self.a = rel @ self.u / half
        self.b = rel @ self.v / half
        self.outside = _outside_face(points, lm)

    def move(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        """Pixel displacements from moves along u and v, both given in mouth widths."""
        return (np.outer(du, self.u) + np.outer(dv, self.v)) * self.width * self.outside[:, None]


def _outside_face(points: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """1 inside the face oval, falling to 0 at 1.6 times its size, so rules never drag the frame border."""
    oval = lm[list(topo.FACE_OVAL)]
    centre = oval.mean(axis=0)
    ang_oval = np.arctan2(oval[:, 1] - centre[1], oval[:, 0] - centre[0])
    rad_oval = np.linalg.norm(oval - centre, axis=1)
    order = np.argsort(ang_oval)
    rel = points - centre
    ang = np.arctan2(rel[:, 1], rel[:, 0])
    radius = np.interp(ang, ang_oval[order], rad_oval[order], period=2 * np.pi)
    return 1.0 - smoothstep(1.0, 1.6, np.linalg.norm(rel, axis=1) / radius)


def lip_layers(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: in the upper lip, in the lower lip, and depth across the lip (0 at its inner edge, 1 outer).

    Found geometrically rather than from index lists, so every MediaPipe lip ring between the contours moves
    with its lip instead of staying behind as skin and folding it.
    """
    upper = _inside(points, topo.LIP_UPPER_OUTER + topo.LIP_UPPER_INNER[::-1])
    lower = _inside(points, topo.LIP_LOWER_OUTER + topo.LIP_LOWER_INNER[::-1])
    inner = np.minimum(_polyline_distance(points, points[list(topo.LIP_UPPER_INNER)]),
                       _polyline_distance(points, points[list(topo.LIP_LOWER_INNER)]))
    outer = np.minimum(_polyline_distance(points, points[list(topo.LIP_UPPER_OUTER)]),
                       _polyline_distance(points, points[list(topo.LIP_LOWER_OUTER)]))
    depth = inner / np.maximum(inner + outer, 1e-6)
    return upper, lower, depth


def _inside(points: np.ndarray, polygon_indices: tuple[int, ...]) -> np.ndarray:
    contour = points[list(polygon_indices)].astype(np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) >= -0.25 for x, y in points])


def _polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(np.einsum("psk,sk->ps", points[:, None] - a[None], ab) / np.maximum((ab**2).sum(1), 1e-9), 0, 1)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None] - closest, axis=2).min(axis=1)


def mouth_rules(points: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """(P, 2) pixel displacement per mouth shape (MOUTH_SHAPES) at full strength."""
    f = MouthFrame(points, landmarks)
    n = len(points)
    a, b = f.a, f.b
    in_upper, in_lower, depth = lip_layers(points)
    corners = in_upper & in_lower
    upper, lower = in_upper & ~corners, in_lower & ~corners
    skin = ~(in_upper | in_lower)
    up_in, up_out = upper * (1 - depth), upper * depth
    low_in, low_out = lower * (1 - depth), lower * depth
    ac = np.clip(a, -1, 1)
    above, below = smoothstep(0.0, 0.3, -b), smoothstep(0.0, 0.3, b)  # skin above and below the lip line
    arch = 1 - ac**2  # 1 at the mouth centre, 0 at the corners
    # Skin around the mouth follows the lips, fading out sideways and downward, and stopping below the nose.
    # Measured from the lips' outer contours, so the skin right next to a lip moves as that lip does.
    upper_outer, lower_outer = list(topo.LIP_UPPER_OUTER), list(topo.LIP_LOWER_OUTER)
    from_lips = np.maximum.reduce([_along(a, a[upper_outer], b[upper_outer]) - b,
                                   b - _along(a, a[lower_outer], b[lower_outer]), np.zeros(n)])
    # Beyond the corners the falloff widens with the distance from them, so skin at the corners' height is not
    # dragged along alone (a shear there shows as a seam running out from each corner).
    beyond = np.maximum(np.abs(a) - 1, 0)
    near_mouth = np.exp(-beyond**2 / 0.8**2) * np.exp(-(from_lips**2) / (0.7 + 2.0 * beyond) ** 2)
    near_mouth *= smoothstep(-1.2, -0.7, b)

    # Jaw: everything below the mouth line drops (the lower lip by half a mouth width), less toward the jaw
    # angles; the opening is an oval.
    jaw_skin = smoothstep(-0.15, 0.55, b) * (1 - 0.75 * smoothstep(0.8, 3.2, np.abs(a)))
    jaw_skin *= 1 - 0.6 * np.minimum(a**2, 1)
    # The corners drop a little with the jaw, and the upper lip and skin next to them follow, so the opening's
    # ends are rounded instead of boxed in by a corner sliding down alone.
    corner_drop = 0.24
    near_corner = np.exp(-(((np.abs(a) - 1) / 0.35) ** 2) - (b / 0.35) ** 2)
    # Skin right under the lower lip drops with it, or the lip would slide over it where a smile lifts the lip.
    under_lip = (b > _along(a, a[lower_outer], b[lower_outer])) & (np.abs(a) < 1.3)
    jaw_skin = np.maximum(jaw_skin, corner_drop * near_corner)
    jaw_skin = np.where(under_lip, np.maximum(jaw_skin, (1 - 0.6 * ac**2) * (1 - smoothstep(1.0, 1.3, np.abs(a)))),
                        jaw_skin)
    upper_jaw = -0.04 * arch + corner_drop * smoothstep(0.45, 1.0, np.abs(ac))
    jaw_v = np.where(lower, 1 - 0.6 * ac**2, np.where(corners, corner_drop, np.where(upper, upper_jaw, jaw_skin)))
    # The corners come in a little, and the lips and skin beside them with them (a corner alone would fold them).
    jaw_u = -0.05 * np.sign(a) * np.where(skin, near_corner, smoothstep(0.6, 1.0, np.abs(ac)))
    # Spread: corners pulled back and up, lips thinned, teeth showing between them.
    # The lift is shared by the lips and skin around each corner, so no corner slides past its neighbours.
    spread_u = 0.16 * ac * np.where(skin, near_mouth, 1.0)
    spread_v = -0.035 * np.where(skin, near_corner, smoothstep(0.6, 1.0, np.abs(ac)))
    spread_v += arch * (-0.02 * up_in + 0.03 * low_in + 0.012 * up_out - 0.02 * low_out)
    # Round: corners pushed in and lips pouting (their outer contours move out, so they look fuller and pushed
    # forward); the inner contours bend toward each other near the corners, so the opening is an O, not a slot.
    # A smiling photo's corners are pulled back already: rounding brings them in less, so the smile relaxes
    # instead of being squeezed into two points.
    smile = float(np.clip(-f.b[list(topo.MOUTH_CORNERS)].mean(), 0.0, 0.5))
    pull = 0.19 * (1 - smile)
    round_u = -ac * np.where(skin, pull * near_mouth, pull + 0.03 * (1 - depth) * np.abs(ac))
    round_v = 0.08 * np.sqrt(arch) * (low_out - up_out) + np.sqrt(arch) * (0.02 * up_in + 0.03 * low_in)
    round_v += np.where(skin, 0.08 * np.sqrt(arch) * near_mouth * (below - above), 0.0)  # skin moves with the pout
    # Rounding an open jaw closes the opening toward the corners from both sides (an O), never past closed.
    bend = (1 - 0.6 * ac**2) * smoothstep(0.15, 0.9, np.abs(ac))
    jaw_round_v = np.where(lower, -0.8 * bend, np.where(upper, 0.2 * bend, 0.0))
    # Close: the inner lips meet half way and press a little; skin next to the lips follows.
    half_gap = _lip_gaps(points, f) / f.width / 2
    # Pressing tapers off toward the corners, which are closed already, so they do not fold over each other.
    close_v = np.where(upper, half_gap + 0.012 * arch, 0.0) + np.where(lower, -half_gap - 0.02 * arch, 0.0)
    # Skin follows from zero at the lip line outward, so the skin beside the corners never tears along it.
    close_v += np.where(skin, near_mouth * (0.012 * above - 0.02 * below), 0.0)
    # Tuck (f, v): upper lip lifts off the teeth, lower lip rolls up and in under them.
    tuck_v = -0.07 * arch * up_in - 0.035 * arch * up_out
    tuck_v += low_in * (-1.1 * half_gap - 0.01) - 0.13 * arch * low_out
    tuck_v += np.where(skin & (b > 0), -0.05 * near_mouth * smoothstep(0.0, 0.6, b), 0.0)
    tuck_v += np.where(skin, -0.02 * near_mouth * above, 0.0)

    return {
        "jaw_open": f.move(jaw_u, 0.5 * jaw_v),
        "lip_spread": f.move(spread_u, spread_v),
        "lip_round": f.move(round_u, round_v),
        JAW_ROUND: f.move(np.zeros(n), 0.5 * jaw_round_v),
        "lip_close": f.move(np.zeros(n), close_v),
        "lip_tuck": f.move(np.zeros(n), tuck_v),
    }


def _lip_gaps(points: np.ndarray, f: MouthFrame) -> np.ndarray:
    """Per point: the rest gap between the inner lips at its position across the mouth (pixels)."""
    up = list(topo.LIP_UPPER_INNER)
    low = list(topo.LIP_LOWER_INNER)
    gap = (_along(f.a, f.a[low], f.b[low]) - _along(f.a, f.a[up], f.b[up])) * f.width / 2
    return np.maximum(gap, 0.0) * (np.abs(f.a) <= 1)


def _along(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A contour given as samples (xs, ys), read at positions x."""
    order = np.argsort(xs)
    return np.interp(x, xs[order], ys[order])


def blink_rule(points: np.ndarray) -> np.ndarray:
    """(P, 2) displacement that closes both eyes: the upper lid sweeps down, the lower lid rises a little.

    The lids meet at _EYE_CLOSE_AT of the opening measured column by column, and the upper lid goes a little
    further (LID_OVERLAP) so it lies over the lower one with no white line between them.
    """
    total = np.zeros_like(points)
    for upper, lower in topo.EYES:
        frame = EyeFrame(points, upper)
        s, t, width = frame.s, frame.t, frame.width
        up, low = list(upper), list(lower)
        lid_up = _along(s, s[up], t[up])
        lid_low = _along(s, s[low], t[low])
        gap = np.maximum(lid_low - lid_up, 0) * (1 - smoothstep(0.9, 1.3, np.abs(2 * s - 1)))
        overlap = LID_OVERLAP / width * (gap > 0)
        above = np.maximum(lid_up - t, 0)
        below = np.maximum(t - lid_low, 0)
        dv = np.where(t <= lid_up + 1e-6, (_EYE_CLOSE_AT * gap + overlap) * np.exp(-((above / LID_FALLOFF) ** 2)), 0.0)
        dv += np.where(t >= lid_low - 1e-6, -(1 - _EYE_CLOSE_AT) * gap * np.exp(-((below / 0.15) ** 2)), 0.0)
        dv[topo.N_FACE_LANDMARKS:] = 0.0
        total += np.outer(dv, frame.v) * width
    return total


class EyeFrame:
    """Eye-aligned coordinates: s from the outer corner (0) to the inner one (1), t down, in eye widths."""

    def __init__(self, points: np.ndarray, upper_lid: tuple[int, ...]) -> None:
        outer, inner = points[upper_lid[0]], points[upper_lid[-1]]
        self.width = float(np.linalg.norm(inner - outer))
        self.u = (inner - outer) / self.width
        self.v = np.array([-self.u[1], self.u[0]]) * (1.0 if self.u[0] >= 0 else -1.0)
        rel = points - outer
        self.s = rel @ self.u / self.width
        self.t = rel @ self.v / self.width


def brow_rule(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(P, 2) displacement that raises both brows: each brow lifts by BROW_LIFT, the skin between it and the lid
    fold stretches (the lid itself stays, so the eye keeps its shape), and the forehead above rises less and less
    toward the hairline."""
    strongest = np.zeros(len(points))
    total = np.zeros_like(points)
    for (upper, lower), (brow_upper, brow_lower) in zip(topo.EYES, topo.BROWS):
        frame = EyeFrame(points, upper)
        s, t = frame.s, frame.t
        lid = _along(s, s[list(upper)], t[list(upper)])
        brow_bottom = lid - _along(s, s[list(brow_lower)], t[list(brow_lower)])  # heights above the lid margin
        brow_top = lid - _along(s, s[list(brow_upper)], t[list(brow_upper)])
        height = lid - t
        span = s[list(brow_upper + brow_lower)]
        across = smoothstep(span.min() - 0.45, span.min(), s) * (1 - smoothstep(span.max(), span.max() + 0.4, s))
        weight = smoothstep(_BROW_FREE, np.maximum(brow_bottom, _BROW_FREE + 0.1), height)
        weight *= 1 - 0.6 * smoothstep(brow_top, brow_top + 1.2, height)
        weight *= across
        take = weight > strongest
        strongest = np.where(take, weight, strongest)
        total[take] = -np.outer(BROW_LIFT * weight[take] * frame.width, frame.v)
    return total * _outside_face(points, landmarks[:, :2])[:, None]


def all_rules(points: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Every mesh-driven rig motion by name: the mouth shapes, the blink and the brow raise."""
    return {**mouth_rules(points, landmarks), BLINK: blink_rule(points), BROW: brow_rule(points, landmarks)}
