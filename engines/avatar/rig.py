"""The rig: how far each mesh point moves when one mouth parameter (or the blink) is fully on.

Rules are written in a mouth-aligned frame (a across the mouth, b down toward the chin, both in half mouth widths)
and an eye-aligned frame per eye, so a tilted head opens its jaw along its own axis. The renderer turns each
rule into a dense warp field once and mixes the fields per frame.
"""
from __future__ import annotations

import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar.regions import mouth_width

BLINK = "blink"
_CORNERS = {61, 291, 78, 308}
_UPPER_LIP = (set(topo.LIP_UPPER_OUTER) | set(topo.LIP_UPPER_INNER)) - _CORNERS
_LOWER_LIP = (set(topo.LIP_LOWER_OUTER) | set(topo.LIP_LOWER_INNER)) - _CORNERS
_OUTER_LIP = (set(topo.LIP_UPPER_OUTER) | set(topo.LIP_LOWER_OUTER)) - _CORNERS
_EYE_CLOSE_AT = 0.72  # where the lids meet, as a share of the opening measured from the upper lid


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
        self.centre = (points[13] + points[14]) / 2
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


def _member(n_points: int, indices) -> np.ndarray:
    mask = np.zeros(n_points, bool)
    mask[list(indices)] = True
    return mask


def mouth_rules(points: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """(P, 2) pixel displacement per mouth parameter at full strength."""
    f = MouthFrame(points, landmarks)
    n = len(points)
    a, b = f.a, f.b
    upper, lower = _member(n, _UPPER_LIP), _member(n, _LOWER_LIP)
    corners, outer = _member(n, _CORNERS), _member(n, _OUTER_LIP)
    inner_up, inner_low = _member(n, topo.LIP_UPPER_INNER) & ~corners, _member(n, topo.LIP_LOWER_INNER) & ~corners
    skin = ~(upper | lower | corners)
    ac = np.clip(a, -1, 1)
    arch = 1 - ac**2  # 1 at the mouth centre, 0 at the corners
    near_mouth = np.exp(-np.maximum(np.abs(a) - 1, 0) ** 2 / 0.8**2) * np.exp(-(b**2) / 0.9**2)

    # Jaw: everything below the mouth line drops, less toward the jaw angles; the opening is an oval.
    jaw_skin = smoothstep(-0.15, 0.55, b) * (1 - 0.75 * smoothstep(0.8, 3.2, np.abs(a))) * (1 - 0.6 * np.minimum(a**2, 1))
    jaw_v = np.where(lower, 1 - 0.6 * ac**2, np.where(corners, 0.38, np.where(upper, -0.04 * arch, jaw_skin)))
    jaw_u = np.where(corners, -0.05 * np.sign(a), 0.0)
    # Spread: corners pulled back and up, lips thinned, teeth showing between them.
    spread_u = 0.13 * ac * np.where(skin, near_mouth, 1.0)
    spread_v = np.where(corners, -0.03, 0.0) + np.where(inner_up, -0.035 * arch, 0.0) + np.where(inner_low, 0.06 * arch, 0.0)
    spread_v += np.where(outer & upper, 0.012, 0.0) + np.where(outer & lower, -0.02, 0.0)
    # Round: corners pushed in, lips pouting (outer contour out), a small round opening.
    round_u = -0.17 * ac * np.where(skin, near_mouth, 1.0)
    round_v = np.where(outer & upper, -0.05 * np.sqrt(arch), 0.0) + np.where(outer & lower, 0.05 * np.sqrt(arch), 0.0)
    round_v += np.where(inner_up, -0.03 * arch, 0.0) + np.where(inner_low, 0.07 * arch, 0.0)
    # Close: the inner lips meet half way and press a little; skin next to the lips follows.
    gap = _lip_gaps(points, f)
    half_gap = gap / f.width / 2
    close_v = np.where(upper, half_gap + 0.012, 0.0) + np.where(lower, -half_gap - 0.02, 0.0)
    close_v += np.where(skin & (b < 0), 0.012 * near_mouth, 0.0) + np.where(skin & (b > 0), -0.02 * near_mouth, 0.0)
    # Tuck (f, v): upper lip lifts off the teeth, lower lip rolls up and in under them.
    tuck_v = np.where(inner_up, -0.07 * arch, 0.0) + np.where(outer & upper, -0.035 * arch, 0.0)
    tuck_v += np.where(inner_low, -2 * half_gap - 0.01, 0.0) + np.where(outer & lower, -0.13 * arch, 0.0)
    tuck_v += np.where(skin & (b > 0), -0.05 * near_mouth * smoothstep(0.0, 0.6, b), 0.0)
    tuck_v += np.where(skin & (b < 0), -0.02 * near_mouth, 0.0)

    return {
        "jaw_open": f.move(jaw_u, 0.5 * jaw_v),
        "lip_spread": f.move(spread_u, spread_v),
        "lip_round": f.move(round_u, round_v),
        "lip_close": f.move(np.zeros(n), close_v),
        "lip_tuck": f.move(np.zeros(n), tuck_v),
    }


def _lip_gaps(points: np.ndarray, f: MouthFrame) -> np.ndarray:
    """Per point: the rest gap between facing inner lip points, interpolated across the mouth (pixels)."""
    up = np.array(topo.LIP_UPPER_INNER)
    low = np.array(topo.LIP_LOWER_INNER)
    gaps = np.maximum((points[low] - points[up]) @ f.v, 0.0)
    xs = f.a[up]
    order = np.argsort(xs)
    return np.interp(f.a, xs[order], gaps[order]) * (np.abs(f.a) <= 1)


def blink_rule(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(P, 2) displacement that closes both eyes: the upper lid sweeps down, the lower lid rises a little."""
    total = np.zeros_like(points)
    for upper, lower in topo.EYES:
        outer_c, inner_c = points[upper[0]], points[upper[-1]]
        width = float(np.linalg.norm(inner_c - outer_c))
        u = (inner_c - outer_c) / width
        v = np.array([-u[1], u[0]]) * np.sign(u[0] if u[0] != 0 else 1)
        rel = points - outer_c
        s = rel @ u / width
        t = rel @ v / width
        up, low = np.array(upper), np.array(lower)
        gap = np.maximum((points[low] - points[up]) @ v, 0.0) / width
        lid_up = np.interp(s, s[up], t[up])
        lid_low = np.interp(s, s[low], t[low])
        g = np.interp(s, s[up], gap) * (1 - smoothstep(0.9, 1.35, np.abs(2 * s - 1)))
        above = np.maximum(lid_up - t, 0)
        below = np.maximum(t - lid_low, 0)
        dv = np.zeros(len(points))
        dv += np.where(t <= lid_up + 1e-6, _EYE_CLOSE_AT * g * np.exp(-((above / 0.28) ** 2)), 0.0)
        dv += np.where(t >= lid_low - 1e-6, -(1 - _EYE_CLOSE_AT) * g * np.exp(-((below / 0.15) ** 2)), 0.0)
        dv[up[1:-1]] = _EYE_CLOSE_AT * gap[1:-1]
        dv[low[1:-1]] = -(1 - _EYE_CLOSE_AT) * gap[1:-1]
        dv[topo.N_FACE_LANDMARKS:] = 0.0
        total += np.outer(dv, v) * width
    return total


def all_rules(points: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    return {**mouth_rules(points, landmarks), BLINK: blink_rule(points, landmarks)}
