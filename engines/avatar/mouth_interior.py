"""What shows between the lips: a shaded cavity, upper teeth fixed to the skull, lower teeth and tongue on the
jaw.

Layers are painted once, in the mouth's own frame (a tilted head gets tilted teeth) and tinted to the photo.
If the photo shows its own teeth, those pixels are laid over the painted ones (upper teeth on the skull, lower
on the jaw), so the rest frame is nearly the photo itself and the opening mouth keeps the person's real teeth. Per frame the
layers are only shifted by whole pixels, stacked and cut out by the moved inner-lip polygon.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.rig import smoothstep

Box = tuple[int, int, int, int]
_TEETH = np.array([0.80, 0.75, 0.64], np.float32)
_TONGUE = np.array([0.66, 0.33, 0.34], np.float32)
_CAVITY = np.array([0.23, 0.075, 0.08], np.float32)
# Tooth boundaries as angles around the dental arch (radians from the midline); sin() foreshortens them.
_UPPER_TEETH = np.array([0.0, 0.30, 0.54, 0.76, 0.96, 1.14, 1.32])
_LOWER_TEETH = np.array([0.0, 0.19, 0.38, 0.58, 0.78, 0.98, 1.18])
_PHOTO_TEETH_MIN_GAP = 0.06  # mouth widths: a rest opening this tall shows enough teeth to sample
_SPLIT = 0.62  # where a photo's opening is cut into skull and jaw parts when no biting edge is found
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class MouthInterior:
    """The mouth's inside for one bundle, painted once; `composite` cuts it to the current lip opening."""

    def __init__(self, image: np.ndarray, box: Box, centre: np.ndarray, u: np.ndarray, width: float,
                 rest_polygon: np.ndarray, upper_lip: np.ndarray, lower_lip: np.ndarray, travel: int) -> None:
        """`upper_lip`/`lower_lip`: rest inner-lip contours (pixels); `travel`: most pixels a layer is shifted."""
        self.width = width
        self.travel = travel
        side = int(0.25 * width) | 1
        self._wide = (side, side)
        x0, y0, x1, y1 = box
        self.box = box
        px0, py0 = x0 - travel, y0 - travel  # layers carry a margin so shifted slices stay inside them
        self._layer_origin = np.array([px0, py0])
        h, w = y1 - y0 + 2 * travel, x1 - x0 + 2 * travel
        v = np.array([-u[1], u[0]])
        ys, xs = np.mgrid[py0:py0 + h, px0:px0 + w].astype(np.float32)
        half = width / 2
        a = ((xs - centre[0]) * u[0] + (ys - centre[1]) * u[1]) / half
        b = ((xs - centre[0]) * v[0] + (ys - centre[1]) * v[1]) / half
        up_b = _contour_b(upper_lip, centre, u, v, half, a)
        low_b = _contour_b(lower_lip, centre, u, v, half, a)
        pixel = 1.0 / half  # one pixel in these units, for anti-aliased edges

        photo = _crop(image, px0, py0, w, h).astype(np.float32) / 255
        opening = _polygon_alpha(rest_polygon - (px0, py0), (w, h))
        gap = float(np.median((lower_lip - upper_lip) @ v)) / width
        light, cast = _skin_light(image, centre, width)
        painted = _TEETH * light * (0.75 + 0.25 * cast)
        shows_teeth = gap >= _PHOTO_TEETH_MIN_GAP
        teeth = _photo_teeth_colour(photo, opening, painted) if shows_teeth else painted

        # Deepest (darkest) at the middle where the throat is; the insides of the cheeks catch a little light.
        depth = (1 - 0.5 * smoothstep(0.25, 1.0, np.abs(a))) * smoothstep(-0.1, 0.35, b - up_b)
        self._cavity = (_CAVITY * light * (1 - 0.6 * depth)[..., None]).astype(np.float32)
        self._shadow = (_CAVITY * light * 0.8).astype(np.float32)
        upper = _teeth(a, b, pixel, teeth, up_b, _UPPER_TEETH, length=0.34, down=True, gap_depth=0.16)
        lower = _over(_teeth(a, b, pixel, teeth * 0.95, low_b, _LOWER_TEETH, length=0.2, down=False, gap_depth=0.08),
                      _tongue(a, b, pixel, light, low_b))
        if shows_teeth:
            tooth = _toothness(photo, opening)
            on_skull = _upper_teeth(tooth > 0.5, opening, up_b, low_b, b)
            upper = _over(_premultiplied(photo, opening * tooth * on_skull), upper)
            lower = _over(_premultiplied(photo, opening * tooth * (1 - on_skull)), lower)
        self._upper_rgb, self._upper_a = upper[..., :3].copy(), upper[..., 3:].copy()
        self._lower_rgb, self._lower_a = lower[..., :3].copy(), lower[..., 3:].copy()

    def composite(self, frame: np.ndarray, polygon: np.ndarray, upper_shift: tuple[int, int],
                  lower_shift: tuple[int, int], strength: float) -> None:
        """Paint the interior inside `polygon` (output pixels) onto `frame` in place."""
        if strength <= 0.0:
            return
        bx0, by0, bx1, by1 = self.box
        pad = 2
        x0 = max(int(np.floor(polygon[:, 0].min())) - pad, bx0)
        y0 = max(int(np.floor(polygon[:, 1].min())) - pad, by0)
        x1 = min(int(np.ceil(polygon[:, 0].max())) + pad + 1, bx1)
        y1 = min(int(np.ceil(polygon[:, 1].max())) + pad + 1, by1)
        if x1 <= x0 or y1 <= y0:
            return
        alpha = cv2.GaussianBlur(_polygon_alpha(polygon - (x0, y0), (x1 - x0, y1 - y0)), (0, 0), 0.6)
        lower = self._window(x0, y0, x1, y1, lower_shift)
        upper = self._window(x0, y0, x1, y1, upper_shift)
        cavity = self._cavity[self._window(x0, y0, x1, y1, (0, 0))]
        upper_rgb, upper_a = self._upper_rgb[upper], self._upper_a[upper]
        lower_rgb, lower_a = self._lower_rgb[lower], self._lower_a[lower]
        interior = upper_rgb + (1 - upper_a) * (lower_rgb + (1 - lower_a) * cavity)
        # The lips shade what lies just inside them, and a narrow opening lets in less light overall.
        rim = cv2.GaussianBlur(alpha, (0, 0), 0.03 * self.width, borderType=cv2.BORDER_CONSTANT)
        size = cv2.boxFilter(alpha, -1, self._wide, borderType=cv2.BORDER_CONSTANT)
        lit = ((0.5 + 0.5 * np.clip(rim * 2.0, 0.0, 1.0)) * (0.55 + 0.45 * np.clip(size * 2.5, 0.0, 1.0)))[..., None]
        interior = interior * lit + self._shadow * (1 - lit)  # shade toward warm dark, never toward grey
        a = (alpha * strength)[..., None]
        region = frame[y0:y1, x0:x1]
        region[:] = (region * (1 - a) + interior * (255.0 * a) + 0.5).astype(np.uint8)

    def _window(self, x0: int, y0: int, x1: int, y1: int, shift: tuple[int, int]) -> tuple[slice, slice]:
        """Layer rows and columns that land on frame box (x0, y0, x1, y1) when the layer moves by `shift`."""
        dx, dy = (int(np.clip(s, -self.travel, self.travel)) for s in shift)
        top = y0 - int(self._layer_origin[1]) - dy
        left = x0 - int(self._layer_origin[0]) - dx
        return slice(top, top + y1 - y0), slice(left, left + x1 - x0)


def _contour_b(contour: np.ndarray, centre, u, v, half, a) -> np.ndarray:
    """The contour's b (down) coordinate as a function of a, evaluated on the grid."""
    ca = (contour - centre) @ u / half
    cb = (contour - centre) @ v / half
    order = np.argsort(ca)
    return np.interp(a, ca[order], cb[order]).astype(np.float32)


def _crop(image: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    padded = cv2.copyMakeBorder(image, h, h, w, w, cv2.BORDER_REPLICATE)
    return padded[y0 + h: y0 + 2 * h, x0 + w: x0 + 2 * w]


def _polygon_alpha(polygon: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    alpha = np.zeros((size[1], size[0]), np.float32)
    cv2.fillPoly(alpha, [np.round(polygon * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    return alpha


def _skin_light(image: np.ndarray, centre: np.ndarray, width: float) -> tuple[float, np.ndarray]:
    """How brightly the skin around the mouth is lit (1 = a well-lit face) and the photo's colour cast (skin
    colour over its brightness), so painted teeth are neither glowing in a dark photo nor cold in a warm one."""
    x, y = int(centre[0]), int(centre[1])
    r = int(width)
    patch = image[max(y - r, 0): y + r, max(x - r, 0): x + r].reshape(-1, 3).astype(np.float32) / 255
    light = float(np.clip(np.percentile(patch @ _LUMA, 75) / 0.62, 0.55, 1.1))
    skin = np.median(patch, axis=0)
    cast = skin / max(float(skin @ _LUMA), 1e-3)
    return light, cast.astype(np.float32)


def _photo_teeth_colour(photo: np.ndarray, opening: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The person's own teeth colour: the brighter half of what the rest opening shows."""
    pixels = photo[opening > 0.9]
    if len(pixels) < 20:
        return fallback
    luma = pixels @ _LUMA
    return np.median(pixels[luma >= np.median(luma)], axis=0).astype(np.float32)


def _teeth(a, b, pixel, colour, lip_b, bounds, length, down, gap_depth) -> np.ndarray:
    """Premultiplied RGBA row of teeth hanging from (down) or standing on (not down) the lip contour lip_b."""
    phi = np.arcsin(np.clip(a / 0.97, -1, 1))
    k = np.clip(np.searchsorted(bounds, np.abs(phi)) - 1, 0, len(bounds) - 2)
    lo, hi = bounds[k], bounds[k + 1]
    tau = (np.abs(phi) - lo) / (hi - lo)  # 0..1 across one tooth
    crown = np.sin(np.pi * tau)
    # No two teeth alike: a fixed small spread of length and shade per tooth (left and right differ too).
    tooth = k * 2 + (a < 0)
    length = length * (1 + 0.05 * np.sin(tooth * 2.3 + 0.7))
    variation = 1 + 0.04 * np.sin(tooth * 3.7 + 1.1)
    # Edge follows the arch up toward the corners; each tooth's corners are slightly rounded off.
    rise = length * (0.45 * np.abs(a) ** 2 + 0.12 * (1 - np.sqrt(np.clip(crown, 0, 1))))
    if down:
        inside = (lip_b + length - rise - b) / pixel
        depth = np.clip((b - lip_b) / length, 0, 1)  # 0 at the lip, 1 at the biting edge
    else:
        inside = (b - (lip_b - length + rise)) / pixel
        depth = np.clip((lip_b - b) / length, 0, 1)
    alpha = np.clip(inside, 0, 1) * (np.abs(phi) < bounds[-1])
    gap = 1 - gap_depth * (1 - smoothstep(0.0, 0.1, np.minimum(tau, 1 - tau)))
    # Convex crowns, shadow toward the back of the arch, darker and warmer at the gum, a greyish biting edge.
    shade = (0.88 + 0.12 * crown) * gap * (1 - 0.5 * np.abs(a) ** 2) * (0.85 + 0.15 * smoothstep(0.0, 0.5, depth))
    shade *= (1 - 0.1 * smoothstep(0.8, 1.0, depth)) * variation
    rgb = colour * shade[..., None]
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def _tongue(a, b, pixel, light, lip_b) -> np.ndarray:
    r = np.sqrt((a / 0.5) ** 2 + ((b - lip_b) / 0.3) ** 2)
    alpha = np.clip((1 - r) / (pixel * 3), 0, 1)
    shade = 0.55 + 0.45 * smoothstep(0.25, -0.2, b - lip_b)  # lit toward its front edge
    rgb = _TONGUE * light * shade[..., None]
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def _upper_teeth(tooth: np.ndarray, opening: np.ndarray, up_b: np.ndarray, low_b: np.ndarray,
                 b: np.ndarray) -> np.ndarray:
    """1 where the photo's opening shows upper teeth (they stay on the skull), 0 below their biting edge.

    Per column, the upper teeth are the first run of tooth pixels down from the upper lip; whatever lies below
    a dark gap (lower teeth, tongue) goes with the jaw. Columns without teeth split at _SPLIT.
    """
    inside = opening > 0.5
    edges = np.full(opening.shape[1], np.nan, np.float32)
    for x in np.flatnonzero(inside.any(axis=0)):
        rows = np.flatnonzero(inside[:, x])
        bright = tooth[rows, x]
        if bright.any():
            first = int(np.argmax(bright))
            dark_after = np.flatnonzero(~bright[first:])
            edges[x] = rows[first + dark_after[0]] if len(dark_after) else rows[-1] + 1
    known = ~np.isnan(edges)
    if known.sum() < 5:
        return (b <= up_b + _SPLIT * (low_b - up_b)).astype(np.float32)
    cols = np.arange(opening.shape[1])
    edge_rows = np.interp(cols, cols[known], cv2.medianBlur(edges[known][None, :], 5)[0])
    return (np.arange(opening.shape[0])[:, None] < edge_rows[None, :]).astype(np.float32)


def _toothness(photo: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """How surely each pixel of the photo's opening is tooth (bright, unsaturated) rather than lip edge or the
    dark mouth corners: only teeth are carried along, the rest is painted, so nothing pink or brown stays
    stuck to a tooth once the lips move. Thin dark lines between teeth are closed over."""
    luma = photo @ _LUMA
    bright = np.percentile(luma[opening > 0.5], 90)
    saturation = (photo.max(axis=2) - photo.min(axis=2)) / np.maximum(photo.max(axis=2), 1e-3)
    tooth = smoothstep(0.55 * bright, 0.8 * bright, luma) * (1 - smoothstep(0.3, 0.5, saturation))
    tooth = cv2.morphologyEx(tooth.astype(np.float32), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return cv2.GaussianBlur(tooth, (0, 0), 0.7)


def _premultiplied(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return top + bottom * (1 - top[..., 3:4])
