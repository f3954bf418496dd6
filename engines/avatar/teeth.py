"""Teeth for the mouth interior: painted rows (when the photo shows none) and the photo's own teeth.

Painted teeth are drawn in the mouth's frame (a across the mouth, b down, both in half mouth widths) as premultiplied
RGBA. What makes a row read as teeth rather than dentures: uneven widths (foreshortened around the arch), each crown
rounded and lit in its middle, dark gaps that open into notches at the biting edge, a shadow under the lip that
covers their tops, a slightly translucent greyer biting edge, and the back teeth falling into the mouth's shade.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.avatar.rig import smoothstep

# Tooth boundaries as angles around the dental arch (radians from the midline); sin() foreshortens them.
UPPER_BOUNDS = np.array([0.0, 0.30, 0.54, 0.76, 0.96, 1.14, 1.32])
LOWER_BOUNDS = np.array([0.0, 0.19, 0.38, 0.58, 0.78, 0.98, 1.18])
_SPLIT = 0.62  # where a photo's opening is cut into skull and jaw parts when no biting edge is found
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_EDGE_TINT = np.array([0.93, 0.96, 1.04], np.float32)  # the thin biting edge lets the dark mouth show through
_SHADE_WARMTH = np.array([0.2, -0.05, -0.25], np.float32)


@dataclass(frozen=True)
class Row:
    """One row of painted teeth. `length`: visible length below (above) the lip in half mouth widths, `fade`: |a|
    from which the row fades out (lower teeth are only hinted in the middle), `shade`: overall brightness."""

    bounds: np.ndarray
    length: float
    down: bool
    gap_depth: float
    shade: float = 1.0
    fade: float = 1.2


UPPER_ROW = Row(UPPER_BOUNDS, length=0.27, down=True, gap_depth=0.3)
LOWER_ROW = Row(LOWER_BOUNDS, length=0.08, down=False, gap_depth=0.15, shade=0.7, fade=0.45)


def paint_row(a: np.ndarray, b: np.ndarray, pixel: float, colour: np.ndarray, lip_b: np.ndarray,
              row: Row) -> np.ndarray:
    """Premultiplied RGBA teeth hanging from (down) or standing on (not down) the lip contour lip_b. The crowns
    reach well past the lip, so a lip that lifts shows more tooth, never a tooth's end."""
    phi = np.arcsin(np.clip(a / 0.97, -1, 1))
    k = np.clip(np.searchsorted(row.bounds, np.abs(phi)) - 1, 0, len(row.bounds) - 2)
    lo, hi = row.bounds[k], row.bounds[k + 1]
    tau = (np.abs(phi) - lo) / (hi - lo)  # 0..1 across one tooth
    crown = np.sin(np.pi * tau)
    # No two teeth alike: a fixed spread of length, shade and tint per tooth (left and right differ too), and
    # biting edges that are not one straight line; evenness is what makes painted teeth read as dentures.
    tooth = k * 2 + (a < 0)
    length = row.length * (1 + 0.14 * np.sin(tooth * 2.3 + 0.7) + 0.06 * np.sin(tooth * 5.1 + 2.0))
    variation = 1 + 0.09 * np.sin(tooth * 3.7 + 1.1)
    tint = 1 + 0.05 * np.sin(tooth * 1.9 + 0.4)[..., None] * _SHADE_WARMTH
    # The biting edge follows the arch up toward the corners; each tooth's corners are rounded off into a notch,
    # and each edge slants a little its own way.
    slant = 0.08 * np.sin(tooth * 4.3 + 0.9) * (2 * tau - 1)
    rise = length * (0.5 * np.abs(a) ** 2 + 0.22 * (1 - np.sqrt(np.clip(crown, 0, 1))) + slant)
    along = (b - lip_b) if row.down else (lip_b - b)  # distance from the lip toward the biting edge
    inside = (length - rise - along) / pixel
    depth = np.clip(along / length, 0, 1)  # 0 at the lip, 1 at the biting edge
    alpha = np.clip(inside, 0, 1) * (np.abs(phi) < row.bounds[-1])
    alpha *= 1 - smoothstep(row.fade, row.fade + 0.3, np.abs(a))
    # Gaps are about a pixel wide whatever the tooth's foreshortened width, deepening toward the biting edge.
    # Teeth foreshortened to a few pixels at the back show neither gaps nor rounding so clearly (no picket fence).
    to_gap = np.minimum(np.abs(a) - 0.97 * np.sin(lo), 0.97 * np.sin(hi) - np.abs(a)) / pixel
    contrast = smoothstep(3.0, 8.0, 0.97 * (np.sin(hi) - np.sin(lo)) / pixel)
    gap = 1 - row.gap_depth * (1 - smoothstep(0.0, 1.3, to_gap)) * (0.5 + 0.5 * depth) * (0.4 + 0.6 * contrast)
    # Convex crowns lit in the middle, their tops a little darker, the back of the arch in the mouth's shade (the
    # lips' own shadow moves with them and is added per frame).
    shade = (1 - 0.26 * contrast * (1 - np.sqrt(np.clip(crown, 0, 1)))) * gap * (1 - 0.55 * np.abs(a) ** 1.5)
    shade *= (0.88 + 0.12 * smoothstep(0.0, 0.45, depth)) * variation * row.shade
    edge = smoothstep(0.75, 1.0, depth)[..., None]
    # Shaded enamel takes on the warm light bounced inside the mouth rather than going neutral grey.
    warm = 1 + (1 - np.clip(shade, 0, 1))[..., None] * _SHADE_WARMTH
    rgb = colour * shade[..., None] * warm * tint * (1 - edge + edge * 0.9 * _EDGE_TINT)
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def photo_teeth_colour(photo: np.ndarray, opening: np.ndarray, tooth: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The person's own teeth colour: the surely-tooth pixels of the rest opening (no lip edge, no dark corners,
    which would make painted teeth next to the real ones dull and brownish)."""
    pixels = photo[(opening > 0.9) & (tooth > 0.6)]
    if len(pixels) < 20:
        return fallback
    return np.median(pixels, axis=0).astype(np.float32)


def toothness(photo: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """How surely each pixel of the photo's opening is tooth (bright, unsaturated) rather than lip edge or the
    dark mouth corners: only teeth are carried along, the rest is painted, so nothing pink or brown stays
    stuck to a tooth once the lips move. Thin dark lines between teeth are closed over."""
    luma = photo @ _LUMA
    bright = np.percentile(luma[opening > 0.5], 90)
    saturation = (photo.max(axis=2) - photo.min(axis=2)) / np.maximum(photo.max(axis=2), 1e-3)
    tooth = smoothstep(0.55 * bright, 0.8 * bright, luma) * (1 - smoothstep(0.3, 0.5, saturation))
    tooth = cv2.morphologyEx(tooth.astype(np.float32), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return cv2.GaussianBlur(tooth, (0, 0), 0.7)


def upper_share(tooth: np.ndarray, opening: np.ndarray, up_b: np.ndarray, low_b: np.ndarray, b: np.ndarray,
                pixel: float) -> np.ndarray:
    """How much of each pixel of the photo's opening is upper teeth (they stay on the skull) rather than what lies
    below their biting edge (it goes with the jaw); anti-aliased across that edge so it never shows a staircase.

    Per column, the upper teeth are the first run of tooth pixels down from the upper lip; whatever lies below
    a dark gap (lower teeth, tongue) goes with the jaw. Columns without teeth split at _SPLIT.
    """
    inside = opening > 0.5
    edges = np.full(opening.shape[1], np.nan, np.float32)
    for x in np.flatnonzero(inside.any(axis=0)):
        rows = np.flatnonzero(inside[:, x])
        bright = tooth[rows, x] > 0.5
        if bright.any():
            first = int(np.argmax(bright))
            dark_after = np.flatnonzero(~bright[first:])
            end = rows[first + dark_after[0]] if len(dark_after) else rows[-1] + 1
            # Sub-pixel: the edge lies where toothness crosses one half between the last tooth row and the next.
            last = tooth[end - 1, x] if end - 1 >= 0 else 1.0
            after = tooth[end, x] if end < len(tooth) else 0.0
            edges[x] = end - 0.5 + float(np.clip((last - 0.5) / max(last - after, 1e-3), 0, 1))
    known = ~np.isnan(edges)
    if known.sum() < 5:
        return np.clip((up_b + _SPLIT * (low_b - up_b) - b) / pixel + 0.5, 0, 1).astype(np.float32)
    cols = np.arange(opening.shape[1])
    edge_rows = np.interp(cols, cols[known], cv2.medianBlur(edges[known][None, :], 5)[0])
    return np.clip(edge_rows[None, :] - np.arange(opening.shape[0])[:, None], 0, 1).astype(np.float32)
