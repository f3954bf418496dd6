"""Skin-coloured upper lids for blinks.

The warp moves the lid margin down, but stretching a few pixels of real lid (mostly lashes and crease shadow)
over the eye reads as a dark smudge: the skin a closed lid shows is hidden in its fold while the eye is open.
So wherever the moving lid now covers what was the eye opening, paint lid skin (the photo's own skin from above the
crease, brought to the light of a lid and shaded slightly toward the margin) and draw a soft lash line along it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from engines.avatar import face_topology as topo
from engines.avatar.rig import LID_FALLOFF, EyeFrame, smoothstep

_SKIN_BAND = (0.12, 0.4)  # eye widths above the lid margin where lid skin is sampled
COVER_FROM = 0.15  # eye widths above the margin where the painted lid starts
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_TEXTURE_SIGMA = 2.0  # pixels: finer than this the lid shows the skin's own texture, coarser the lid's shading
_LASH_OPACITY = 0.6


Pixels = TypeVar("Pixels")  # a NumPy array or a torch tensor: the arithmetic below serves both renderers


@dataclass(frozen=True)
class LidCut:
    """One lid to paint in one frame: its masks over the lid's box (already scaled by the blink's strength) and
    the whole pixels the head has carried it."""

    lid: int  # index into Eyelids.lids
    alpha: np.ndarray  # (h, w) float32: lid skin coverage
    lash: np.ndarray  # (h, w) float32: lash line coverage
    shift: tuple[int, int]


class Eyelids:
    def __init__(self, image: np.ndarray, points: np.ndarray, blink_moves: np.ndarray) -> None:
        self.lids: list[Lid] = []
        for upper, _ in topo.EYES:
            frame = EyeFrame(points, upper)
            rest = points[list(upper)].astype(np.float32)
            box = _lid_box(rest, blink_moves[list(upper)], image.shape)
            self.lids.append(Lid(rest, blink_moves[list(upper)].astype(np.float32), frame.v.astype(np.float32),
                                 box, _skin_texture(image, rest, frame, box), _lash_colour(image, rest),
                                 frame.width))

    def cuts(self, blink: float, shifts: np.ndarray) -> tuple[LidCut, ...]:
        """The lids closed by `blink` in [0, 1] (none while it is too small to show); `shifts` (eyes, 2) is the
        head motion at each eye, in whole pixels."""
        strength = float(smoothstep(0.1, 0.5, blink))
        if strength <= 0.0:
            return ()
        return tuple(LidCut(i, *lid.masks(blink, strength), (int(shift[0]), int(shift[1])))
                     for i, (lid, shift) in enumerate(zip(self.lids, shifts)))

    def composite(self, frame: np.ndarray, cuts: tuple[LidCut, ...]) -> None:
        """Paint the lids of `cuts` onto `frame` (H, W, 3 uint8) in place."""
        for cut in cuts:
            lid = self.lids[cut.lid]
            x0, y0, x1, y1 = lid.box
            sx, sy = cut.shift
            target = frame[y0 + sy: y1 + sy, x0 + sx: x1 + sx]
            target[:] = (paint_lid(target.astype(np.float32), lid.skin, lid.lash, cut.alpha, cut.lash) + 0.5
                         ).astype(np.uint8)


def paint_lid(region: Pixels, skin: Pixels, lash: Pixels, alpha: Pixels, lash_alpha: Pixels) -> Pixels:
    """Lid skin, then the lash line, over `region` ((..., h, w, 3) float RGB): arithmetic only, so the CPU and the
    tensor renderer paint with the same formula."""
    region = region + (skin - region) * alpha[..., None]
    return region + (lash - region) * lash_alpha[..., None]


class Lid:
    """One upper lid: its rest margin, its blink moves, its box (frame pixels) and the skin and lash colour
    painted over the box."""

    def __init__(self, rest, moves, down, box, skin, lash, eye_width) -> None:
        self.rest, self.moves, self.down, self.box = rest, moves, down, box
        self.skin, self.lash = skin, lash
        self.cover_px = COVER_FROM * eye_width
        self.top_follow = float(np.exp(-((COVER_FROM / LID_FALLOFF) ** 2)))

    def masks(self, blink: float, strength: float) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, lash): the lid skin's and the lash line's coverage over the box, scaled by `strength`."""
        x0, y0, x1, y1 = self.box
        margin = self.rest + blink * self.moves - (x0, y0)
        # The top follows the lid skin that started COVER_FROM above the margin, so the lashes and crease shadow
        # the warp drags down are covered too.
        top = self.rest - self.down * self.cover_px + blink * self.moves * self.top_follow - (x0, y0)
        alpha = np.zeros((y1 - y0, x1 - x0), np.float32)
        polygon = np.concatenate([top, margin[::-1]])
        cv2.fillPoly(alpha, [np.round(polygon * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.2) * strength
        lash = np.zeros_like(alpha)
        curve = _smoothed(margin[1:-1])
        cv2.polylines(lash, [np.round(curve * 16).astype(np.int32)], False, 1.0, 1, cv2.LINE_AA, shift=4)
        lash = cv2.GaussianBlur(lash, (0, 0), 0.7) * (_LASH_OPACITY * strength)
        return alpha, lash


def _smoothed(polyline: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: the lash line as a smooth curve through the lid's few landmarks, not a zigzag."""
    for _ in range(rounds):
        a, b = polyline[:-1], polyline[1:]
        cut = np.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], axis=1).reshape(-1, 2)
        polyline = np.concatenate([polyline[:1], cut, polyline[-1:]])
    return polyline


def _lid_box(rest: np.ndarray, moves: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    pts = np.concatenate([rest - 12, rest + moves + 4])
    h, w = shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int), 3)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int), (w - 3, h - 3))
    return int(x0), int(y0), int(x1), int(y1)


def _skin_texture(image: np.ndarray, lid: np.ndarray, frame: EyeFrame, box) -> np.ndarray:
    """(h, w, 3) lid skin over the lid box: per column, the lighter skin above the crease, shaded toward the
    margin, smoothed along the lid so no column stands out."""
    x0, y0, x1, y1 = box
    samples = np.stack([_sample(image, lid - frame.v * frame.width * k) for k in np.linspace(*_SKIN_BAND, 9)])
    # Hue from the skin around the eyes as a whole (robust to glasses, lashes, make-up), brightness from a
    # high percentile of the band right above each lid point (the lid is lit, its crease is not).
    skin = np.median(samples.reshape(-1, 3), axis=0)
    luma = np.percentile(samples @ _LUMA, 65, axis=0)  # (points,)
    colour = skin[None, :] * (luma / max(float(skin @ _LUMA), 1.0))[:, None]
    colour = cv2.GaussianBlur(colour[:, None, :], (1, 5), 0)[:, 0, :] if len(colour) >= 5 else colour
    xs = np.arange(x0, x1, dtype=np.float32)
    order = np.argsort(lid[:, 0])
    per_column = np.stack([np.interp(xs, lid[order, 0], colour[order, c]) for c in range(3)], axis=1)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    lid_y = np.interp(xs, lid[order, 0], lid[order, 1])[None, :]
    # The closed lid is a dome over the eyeball: lit in the middle, darker toward the corners and the margin.
    span = (xs - lid[order[0], 0]) / max(lid[order[-1], 0] - lid[order[0], 0], 1.0)
    dome = (1 - 0.14 * (2 * np.clip(span, 0, 1) - 1) ** 2)[None, :]
    shade = dome * (1 - 0.1 * smoothstep(lid_y - 2, lid_y + 0.3 * frame.width, ys))
    target = per_column[None, :, :] * shade[..., None]
    # The lid is the photo's own skin from above the crease, moved down over the eye, its brightness brought to
    # the lid's light: pores, wrinkles and freckles at their real contrast, so a closed eye is never a flat patch.
    lift = int(round(_SKIN_BAND[1] * frame.width))
    above = image[max(y0 - lift, 0): max(y1 - lift, 0), x0:x1].astype(np.float32)
    if above.shape[:2] != target.shape[:2]:
        return target.astype(np.float32)
    low = cv2.GaussianBlur(above, (0, 0), _TEXTURE_SIGMA)
    # Texture only, never objects: a spectacle rim or a lash above the crease must not come down with it.
    return (target * np.clip((above + 1.0) / (low + 1.0), 0.8, 1.25)).astype(np.float32)


def _lash_colour(image: np.ndarray, lid: np.ndarray) -> np.ndarray:
    along = _sample(image, lid[1:-1])
    return along[np.argsort(along @ _LUMA)[: max(2, len(along) // 3)]].mean(axis=0)


def _sample(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    xs = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    return image[ys, xs].astype(np.float32)
