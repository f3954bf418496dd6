"""What shows between the lips: a shaded cavity, upper teeth fixed to the skull, lower teeth and tongue on the jaw.

The layers are painted once, in the mouth's own frame (so a tilted head gets tilted teeth) and tinted by the
photo's light level; per frame they are only shifted, stacked and cut out by the moved inner-lip polygon.
"""
from __future__ import annotations

import cv2
import numpy as np

from engines.avatar.rig import smoothstep

Box = tuple[int, int, int, int]
_TEETH = np.array([0.93, 0.90, 0.83], np.float32)
_TONGUE = np.array([0.62, 0.29, 0.31], np.float32)
_CAVITY = np.array([0.20, 0.065, 0.07], np.float32)
# Tooth boundaries as angles around the dental arch (radians from the midline); sin() foreshortens them.
_UPPER_TEETH = np.array([0.0, 0.31, 0.56, 0.78, 0.98, 1.16, 1.34])
_LOWER_TEETH = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2])


class MouthInterior:
    def __init__(self, image: np.ndarray, box: Box, centre: np.ndarray, u: np.ndarray, width: float,
                 upper_lip_b: float, lower_lip_b: float) -> None:
        """`upper_lip_b`/`lower_lip_b`: rest inner-lip centres in half mouth widths below `centre` along v."""
        self.box = box
        x0, y0, x1, y1 = box
        v = np.array([-u[1], u[0]])
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        half = width / 2
        a = ((xs - centre[0]) * u[0] + (ys - centre[1]) * u[1]) / half
        b = ((xs - centre[0]) * v[0] + (ys - centre[1]) * v[1]) / half
        pixel = 1.0 / half  # one pixel in these units, for anti-aliased edges
        light = _light_level(image, centre, width)
        self.cavity = (_CAVITY * light * (1 - 0.35 * smoothstep(0.0, 0.6, b - upper_lip_b))[..., None]).astype(np.float32)
        self.upper = _teeth(a, b, pixel, light, upper_lip_b, _UPPER_TEETH, length=0.36, edge_rise=0.5, down=True)
        lower_teeth = _teeth(a, b, pixel, light * 0.78, lower_lip_b, _LOWER_TEETH, length=0.22, edge_rise=0.55, down=False)
        self.lower = _over(lower_teeth, _tongue(a, b, pixel, light, lower_lip_b))
        self.width = width
        self._alpha = np.zeros((y1 - y0, x1 - x0), np.float32)

    def composite(self, frame: np.ndarray, polygon: np.ndarray, upper_shift: np.ndarray, lower_shift: np.ndarray,
                  strength: float) -> None:
        """Paint the interior inside `polygon` (output pixels) onto `frame` in place."""
        if strength <= 0.0:
            return
        x0, y0, x1, y1 = self.box
        alpha = self._alpha
        alpha.fill(0.0)
        pts = np.round((polygon - (x0, y0)) * 4).astype(np.int32)
        cv2.fillPoly(alpha, [pts], 1.0, cv2.LINE_AA, shift=2)
        size = (x1 - x0, y1 - y0)
        interior = _under(_shift(self.lower, lower_shift, size), self.cavity)
        interior = _under(_shift(self.upper, upper_shift, size), interior)
        # Ambient occlusion: light falls off toward the lips and into small openings.
        occlusion = cv2.GaussianBlur(alpha, (0, 0), 0.06 * self.width)
        interior *= (0.5 + 0.5 * np.clip(occlusion * 1.5, 0.0, 1.0))[..., None]
        a = (alpha * strength)[..., None]
        region = frame[y0:y1, x0:x1]
        region[:] = np.clip(region * (1 - a) + interior * (255.0 * a) + 0.5, 0, 255).astype(np.uint8)


def _light_level(image: np.ndarray, centre: np.ndarray, width: float) -> float:
    """Brightness of the skin around the mouth relative to a well-lit face, so teeth never glow in a dark photo."""
    x, y = int(centre[0]), int(centre[1])
    r = int(width)
    patch = image[max(y - r, 0): y + r, max(x - r, 0): x + r].reshape(-1, 3).astype(np.float32) / 255
    luma = np.percentile(patch @ np.array([0.299, 0.587, 0.114], np.float32), 75)
    return float(np.clip(luma / 0.62, 0.55, 1.1))


def _teeth(a, b, pixel, light, lip_b, bounds, length, edge_rise, down) -> np.ndarray:
    """Premultiplied RGBA row of teeth hanging from (down) or standing on (not down) the lip line at lip_b."""
    phi = np.arcsin(np.clip(a / 0.97, -1, 1))
    k = np.clip(np.searchsorted(bounds, np.abs(phi)) - 1, 0, len(bounds) - 2)
    lo, hi = bounds[k], bounds[k + 1]
    tau = (np.abs(phi) - lo) / (hi - lo)  # 0..1 across one tooth
    crown = np.sin(np.pi * tau)
    curve = edge_rise * np.abs(a) ** 2 * length + 0.05 * (1 - crown) * length
    if down:
        edge = lip_b + length - curve
        inside = (edge - b) / pixel
        root = (b - (lip_b - 0.5)) / pixel
    else:
        edge = lip_b - length + curve
        inside = (b - edge) / pixel
        root = ((lip_b + 0.6) - b) / pixel
    alpha = np.clip(inside, 0, 1) * np.clip(root, 0, 1) * (np.abs(a) < 0.97) * (np.abs(phi) < bounds[-1])
    gap = 0.6 + 0.4 * smoothstep(0.0, 0.14, np.minimum(tau, 1 - tau))
    shade = (0.8 + 0.2 * crown) * gap * (1 - 0.55 * np.abs(a) ** 1.5)
    colour = _TEETH * light * shade[..., None]
    return np.dstack([colour * alpha[..., None], alpha]).astype(np.float32)


def _tongue(a, b, pixel, light, lip_b) -> np.ndarray:
    r = np.sqrt((a / 0.62) ** 2 + ((b - (lip_b + 0.22)) / 0.3) ** 2)
    alpha = np.clip((1 - r) / (pixel * 3), 0, 1)
    shade = 0.6 + 0.4 * smoothstep(0.2, -0.25, b - lip_b)  # lit toward the front edge
    colour = _TONGUE * light * shade[..., None]
    return np.dstack([colour * alpha[..., None], alpha]).astype(np.float32)


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return top + bottom * (1 - top[..., 3:4])


def _under(top: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    return top[..., :3] + rgb * (1 - top[..., 3:4])


def _shift(layer: np.ndarray, shift: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    m = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
    return cv2.warpAffine(layer, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
